"""Form bodies are decoded strictly: ambiguity is refused, never resolved (catalogue UA-11)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tessera.api.middleware import parse_form


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"a=1&b=%41+x", {"a": "1", "b": "A x"}, id="escapes-and-plus"),
        pytest.param(b"", {}, id="empty"),
        pytest.param(b"a=", {"a": ""}, id="blank-value"),
        pytest.param(b"k=%C3%A9", {"k": "\u00e9"}, id="utf8-escape"),
    ],
)
def test_well_formed_bodies_decode(body: bytes, expected: dict[str, str]) -> None:
    assert parse_form(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"clientId=C&clientId=D", id="repeated-field"),
        pytest.param(b"clientSecret=%ZZ", id="bad-escape"),
        pytest.param(b"a=%4", id="truncated-escape"),
        pytest.param(b"a=%ff", id="escape-not-utf8"),
        pytest.param(b"a=\xff", id="raw-non-ascii"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    assert parse_form(body) is None


def test_malformed_form_login_is_400_not_500(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/universal-auth/login",
        content=b"clientId=C&clientId=D&clientSecret=%ZZ",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "BadRequest"
    assert body["reqId"] == response.headers["x-request-id"]
