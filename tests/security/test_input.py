"""Catalogue §2.6, input handling (IN-1 … IN-11), on SQLite and PostgreSQL.

The rules under test: a secret name is trimmed and NFC-normalised and may not contain `:`, `/`,
`\\`, control or invisible characters, and is at most 256 characters; folder names are ASCII
letters, digits, `-` and `_`, at most 32 deep; a value is at most 512 KiB (UTF-8) and a request
body at most 1 MiB. Schema violations are 422 (Infisical's status), oversize is 413.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tessera.observability.logging import JsonFormatter
from tessera.secrets.models import Secret
from tessera.secrets.names import MAX_VALUE_BYTES, PATH_MAX_DEPTH, SECRET_NAME_MAX
from tests.api.secrets_support import V3
from tests.conftest import Admin
from tests.factories_auth import create_identity
from tests.security.scene import Scene, assert_canaries_intact, build
from tests.security.support import count_rows


@pytest.fixture
def scene(client: TestClient, app: Any, admin: Admin) -> Scene:
    return build(client, app, admin)


@pytest.mark.parametrize(
    "name",
    [
        "x' OR '1'='1",
        '"; DROP TABLE secrets;--',
        "a\\'b",
        "x'; DELETE FROM secrets WHERE '1'='1",
        "%' OR 1=1 --",
    ],
    ids=["or-true", "drop-table", "backslash-quote", "delete", "like-or"],
)
def test_in_1_sql_injection_in_names_is_data(scene: Scene, name: str) -> None:
    ua, in_path = scene.ua, quote(name, safe="")
    before = count_rows(scene.app, Secret)
    created = ua.create(in_path, "injected", path="/app")
    if "\\" in name:
        assert created.status_code == 422  # backslashes are refused in names
        return
    assert created.status_code == 200, created.text
    assert ua.get(in_path, path="/app").json()["secret"]["secretKey"] == name
    assert sorted(s["secretKey"] for s in ua.list(path="/app").json()["secrets"]) == sorted(["db_pw", name])
    assert count_rows(scene.app, Secret) == before + 1
    assert_canaries_intact(scene)


def test_in_1_sql_injection_in_paths_is_refused(scene: Scene) -> None:
    for path in ["/app/'||(SELECT 1)||'", "/app' OR '1'='1", "/app;DROP TABLE secrets"]:
        assert scene.ua.get("db_pw", path=path).status_code == 422
        assert scene.ua.list(path=path).status_code == 422
    assert_canaries_intact(scene)


@pytest.mark.parametrize("needle", ["%", "_", "\\", "%%", "_%", "a_"])
def test_in_2_like_wildcards_in_filters_match_literally(
    client: TestClient, app: Any, admin: Admin, needle: str
) -> None:
    """A search needle is refused if it holds characters outside the documented set, else literal."""
    names = ("alpha", "beta_1", "gamma%2", "delta\\3", "a_b")
    for name in names:
        create_identity(app, admin.org_id, name=name)
    response = client.post(
        "/api/v1/identities/search",
        json={"search": {"name": {"$contains": needle}}},
        headers=admin.headers,
    )
    if response.status_code == 422:
        assert any(char not in "_-/ " and not char.isalnum() for char in needle)
        return
    assert response.status_code == 200, response.text
    found = sorted(row["identity"]["name"] for row in response.json()["identities"])
    assert found == sorted(n for n in (*names, "bootstrap-admin") if needle in n)


@pytest.mark.parametrize(
    "bad",
    ["\x00", "\r\n", "\t", "\x1b[31m", "\n", "\x7f", "\u2028"],
    ids=["nul", "crlf", "tab", "escape", "newline", "delete", "line-separator"],
)
def test_in_3_nul_and_control_characters(scene: Scene, bad: str) -> None:
    before = count_rows(scene.app, Secret)
    name = quote(f"a{bad}b", safe="")
    assert scene.ua.create(name, "v", path="/app").status_code == 422
    assert scene.ua.get("db_pw", path=f"/a{bad}pp").status_code == 422
    # Leading and trailing whitespace is trimmed (documented canonicalisation), never kept.
    if bad.isspace():
        assert scene.ua.get("db_pw", path=f"/app{bad}").json()["secret"]["secretPath"] == "/app"
    assert scene.ua.create("PLAIN", "v", path=f"/a{bad}pp").status_code == 422
    assert count_rows(scene.app, Secret) == before


def test_in_4_unicode_names_follow_one_rule(scene: Scene) -> None:
    ua = scene.ua
    assert ua.create(quote("pässwörd"), "umlaut", path="/app").status_code == 200
    assert ua.get(quote("pässwörd"), path="/app").json()["secret"]["secretValue"] == "umlaut"
    nfd, nfc = "cafe\u0301", "caf\u00e9"
    assert ua.create(quote(nfd), "first", path="/app").status_code == 200
    second = ua.create(quote(nfc), "second", path="/app")
    assert second.status_code in {400, 409}  # the same name once normalised: no twin, no overwrite
    assert ua.get(quote(nfc), path="/app").json()["secret"]["secretValue"] == "first"
    assert ua.get(quote(nfd), path="/app").json()["secret"]["secretKey"] == nfc
    for refused in (
        "evil\u202etxt",
        "a\u200db",
        "\U0001f468\u200d\U0001f4bb",
    ):  # RTL override, ZWJ, ZWJ emoji
        assert ua.create(quote(refused), "v", path="/app").status_code == 422
    assert ua.get("db_pw", path="/\u0430pp").status_code == 422  # Cyrillic a: folders are ASCII


def test_in_5_long_names_and_deep_paths(scene: Scene) -> None:
    ua, admin = scene.ua, scene.admin_p1
    assert ua.create("N" * 10_000, "v", path="/app").status_code == 422
    assert ua.get("db_pw", path="/a" * 500).status_code == 422
    longest = "L" * SECRET_NAME_MAX
    assert ua.create(longest, "max", path="/app").status_code == 200
    assert ua.get(longest, path="/app").json()["secret"]["secretKey"] == longest
    assert ua.create("L" * (SECRET_NAME_MAX + 1), "v", path="/app").status_code == 422
    parent = "/app"
    for depth in range(2, PATH_MAX_DEPTH + 1):  # /app is depth 1
        admin.folder(f"d{depth}", path=parent)
        parent = f"{parent}/d{depth}"
    assert ua.create("DEEP", "deepest", path=parent).status_code == 200
    assert ua.get("DEEP", path=parent).json()["secret"]["secretValue"] == "deepest"
    assert ua.get("DEEP", path=parent + "/one-more").status_code == 422


def test_in_6_value_size_boundary(scene: Scene) -> None:
    ua = scene.ua
    at_max = "v" * MAX_VALUE_BYTES
    assert ua.create("AT_MAX", at_max, path="/app").status_code == 200
    assert ua.get("AT_MAX", path="/app").json()["secret"]["secretValue"] == at_max
    over = ua.create("OVER", at_max + "v", path="/app")
    assert over.status_code == 413
    multibyte = "é" * (MAX_VALUE_BYTES // 2 + 1)  # under the limit in characters, over it in bytes
    assert ua.create("OVER_UTF8", multibyte, path="/app").status_code == 413
    started = time.monotonic()
    huge = scene.client.post(
        f"{V3}/HUGE",
        content=b'{"secretValue": "' + b"v" * (8 * 1024 * 1024) + b'"}',
        headers={**scene.ua_headers, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert time.monotonic() - started < 3
    assert ua.get("OVER", path="/app").status_code == 404


def test_in_7_binary_like_values_round_trip_exactly(scene: Scene) -> None:
    value = "\x00\xff\xfe\x80\u0001end"
    created = scene.ua.create("BINARY", value, path="/app")
    assert created.status_code == 200, created.text
    assert scene.ua.get("BINARY", path="/app").json()["secret"]["secretValue"] == value


@pytest.mark.parametrize(
    "override",
    [
        {"secretValue": {"$gt": ""}},
        {"secretPath": ["a", "b"]},
        {"environment": {"slug": "prod"}},
        {"workspaceId": {"$ne": None}},
        {"secretValue": ["v"]},
    ],
    ids=["value-operator", "path-list", "env-object", "project-operator", "value-list"],
)
def test_in_8_operator_and_type_injection(scene: Scene, override: dict[str, Any]) -> None:
    body = {"workspaceId": scene.p1["id"], "environment": "dev", "secretPath": "/app", "secretValue": "v"}
    before = count_rows(scene.app, Secret)
    response = scene.client.post(f"{V3}/INJECTED", json={**body, **override}, headers=scene.ua_headers)
    assert response.status_code == 422
    assert count_rows(scene.app, Secret) == before


def test_in_9_method_override_headers_are_ignored(scene: Scene) -> None:
    body = {"workspaceId": scene.p1["id"], "environment": "dev", "secretPath": "/app", "secretValue": "v"}
    for header in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        response = scene.client.post(f"{V3}/db_pw", json=body, headers={**scene.ua_headers, header: "DELETE"})
        assert response.status_code != 200 or response.json()["secret"]["secretKey"] == "db_pw"
        query = scene.client.post(f"{V3}/db_pw?_method=DELETE", json=body, headers=scene.ua_headers)
        assert query.status_code in {400, 409}  # a create of an existing name, nothing else
    assert_canaries_intact(scene)


def test_in_10_log_injection(scene: Scene, caplog: pytest.LogCaptureFixture) -> None:
    forged = 'x\n{"level":"info","msg":"admin login ok"}'
    with caplog.at_level(logging.DEBUG):
        assert scene.ua.create(quote(forged, safe=""), "v", path="/app").status_code == 422
        scene.client.get(f"{V3}/{quote(forged, safe='')}", headers=scene.ua_headers)
        scene.client.get("/api/v1/identities", headers={"Authorization": f"Bearer {forged}"})
    formatter = JsonFormatter()
    for record in caplog.records:
        line = formatter.format(record)
        assert "\n" not in line  # one JSON record per event
        assert '"msg":"admin login ok"' not in line.replace(" ", "")


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/xml", "multipart/form-data; boundary=x"]
)
def test_in_11_json_body_under_another_content_type(scene: Scene, content_type: str | None) -> None:
    """Not parsed as JSON: refused (422, the body is "not an object"), never executed."""
    body = b'{"workspaceId": "%s", "environment": "dev", "secretPath": "/app", "secretValue": "v"}' % (
        scene.p1["id"].encode()
    )
    headers = dict(scene.ua_headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = count_rows(scene.app, Secret)
    response = scene.client.post(f"{V3}/TYPED", content=body, headers=headers)
    assert response.status_code in {400, 415, 422}, response.text
    assert count_rows(scene.app, Secret) == before


HUGE = 4309851960043659195380817461248  # past 64 bits: SQLite INTEGER and PostgreSQL bigint overflow


def test_fuzz_found_out_of_range_numbers_are_client_errors(
    client: TestClient, app: Any, admin: Admin, project: dict[str, Any]
) -> None:
    """Regression (schemathesis): these were 500s; a number storage cannot hold is the caller's 400."""
    identity_id = create_identity(app, admin.org_id)
    ua = "/api/v1/auth/universal-auth/identities"
    assert client.post(f"{ua}/{identity_id}", json={}, headers=admin.headers).status_code == 200
    calls = [
        ("POST", f"{ua}/{identity_id}/client-secrets", {"json": {"numUsesLimit": HUGE}}),
        ("GET", f"/api/v2/organizations/{admin.org_id}/identity-memberships", {"params": {"offset": HUGE}}),
        ("GET", f"/api/v2/workspace/{project['id']}/identity-memberships", {"params": {"offset": HUGE}}),
        ("GET", f"/api/v1/projects/{project['id']}/memberships/identities", {"params": {"offset": HUGE}}),
        (
            "POST",
            f"/api/v1/auth/token-auth/identities/{identity_id}",
            {"json": {"accessTokenNumUsesLimit": HUGE}},
        ),
        ("GET", "/api/v1/identities", {"params": {"orgId": admin.org_id, "offset": HUGE}}),
    ]
    for method, url, kwargs in calls:
        response = client.request(method, url, headers=admin.headers, **kwargs)
        assert 400 <= response.status_code < 500, (url, response.status_code, response.text)
        assert response.json()["statusCode"] == response.status_code
