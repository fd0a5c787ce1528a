"""The structured request log: one JSON line per request, and never a secret or credential in any log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.observability.logging import REQUEST_FIELDS, JsonFormatter, configure_logging
from tests.api.secrets_support import Secrets
from tests.conftest import Admin
from tests.factories_auth import bearer, ua_identity, ua_login

LINE_KEYS = {"time", "level", "logger", "message", *REQUEST_FIELDS}


@pytest.fixture
def server_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[io.StringIO]:
    """The server's own logging set-up (JSON to stderr) at DEBUG, also copied to a buffer."""
    logger = logging.getLogger("tessera")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure_logging("DEBUG")
    buffer = io.StringIO()
    copy = logging.StreamHandler(buffer)
    copy.setFormatter(JsonFormatter())
    logger.addHandler(copy)
    try:
        yield buffer
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


def request_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "tessera.access"]


def test_one_line_per_request_with_the_allowed_fields(
    client: TestClient, admin: Admin, server_logs: io.StringIO
) -> None:
    server_logs.truncate(0)
    server_logs.seek(0)
    authed = client.get("/api/v1/workspace", headers=admin.headers)
    anonymous = client.get("/api/status", headers={"X-Request-Id": "req-from-caller-1"})
    refused = client.get("/api/v1/workspace", headers=bearer("not-a-token"))
    lines = request_lines(server_logs)
    assert len(lines) == 3
    for line in lines:
        assert set(line) == LINE_KEYS
        assert (line["level"], line["message"]) == ("info", "request")
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
    first, second, third = lines
    assert first["request_id"] == authed.headers["x-request-id"]
    assert (first["method"], first["route"], first["status"]) == ("GET", "/api/v1/workspace", 200)
    assert first["identity_id"] == admin.identity_id
    assert second["request_id"] == anonymous.headers["x-request-id"] == "req-from-caller-1"
    assert (second["route"], second["identity_id"]) == ("/api/status", None)
    assert (third["status"], third["identity_id"]) == (refused.status_code, None)


def test_the_route_template_is_logged_not_the_path(
    client: TestClient, admin: Admin, project: dict[str, Any], server_logs: io.StringIO
) -> None:
    secrets = Secrets(client, project["id"], admin.headers)
    secrets.ok("STRIPE_KEY", "sk_live_value")
    server_logs.truncate(0)
    server_logs.seek(0)
    assert secrets.get("STRIPE_KEY").status_code == 200
    (line,) = request_lines(server_logs)
    assert line["route"] == "/api/v3/secrets/raw/{secret_name}"
    assert "STRIPE_KEY" not in server_logs.getvalue()
    assert project["id"] not in server_logs.getvalue()


def test_unhandled_errors_are_logged_with_status_500(
    client: TestClient, server_logs: io.StringIO, app: Any
) -> None:
    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("kaboom")

    response = client.get("/boom-for-test")
    assert response.status_code == 500
    (line,) = [line for line in request_lines(server_logs) if line["route"] == "/boom-for-test"]
    assert line["status"] == 500
    assert line["request_id"] == response.headers["x-request-id"]


def test_no_secret_or_credential_reaches_any_log(
    client: TestClient,
    app: Any,
    admin: Admin,
    project: dict[str, Any],
    server_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Log in with Universal Auth and read a secret with everything logged at DEBUG, then look for
    the secret value and both credentials in every byte of log output."""
    caplog.set_level(logging.DEBUG)  # every logger, the libraries' too
    secret_value = "s3cr3t-value-that-must-never-be-logged-7f1c"
    Secrets(client, project["id"], admin.headers).ok("PAYMENT_API_KEY", secret_value)
    _, client_id, client_secret = ua_identity(client, app, admin)

    login = ua_login(client, client_id, client_secret)
    assert login.status_code == 200
    access_token = login.json()["accessToken"]
    # A failed login with the real secret's id and a wrong secret, and a secret read (with its
    # value expanded) by the logged-in identity.
    assert ua_login(client, client_id, client_secret[::-1]).status_code == 401
    read = Secrets(client, project["id"], bearer(access_token)).get("PAYMENT_API_KEY")
    assert read.json()["secret"]["secretValue"] == secret_value

    captured = capsys.readouterr()
    everything = "\n".join(
        [
            server_logs.getvalue(),
            captured.err,
            captured.out,
            caplog.text,
            *(str(record.__dict__) for record in caplog.records),
        ]
    )
    assert len(request_lines(server_logs)) >= 4  # the logs were really being written
    for needle in (secret_value, client_secret, access_token, client_secret[::-1]):
        assert needle not in everything
    # Pieces long enough to identify a credential must not appear either (e.g. a token's signature).
    assert access_token.split(".")[-1] not in everything
