"""The error envelope {reqId, statusCode, message, error} for every kind of failure, and what it
must never contain (internal reasons, tracebacks, the offending input)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tessera import errors
from tessera.api.deps import ContextDep, RequestCtxDep, SessionDep
from tessera.app import create_app
from tessera.audit.models import AuditEvent
from tessera.audit.service import AuditEntry, record
from tessera.clock import FrozenClock
from tessera.crypto.access_tokens import IDENTITY_ACCESS_TOKEN_TYPE
from tessera.settings import Settings
from tests.conftest import BOOTSTRAP_BODY, CLIENT_ADDR, TEST_AUTH_SECRET, Admin
from tests.factories import local_app

pytestmark = pytest.mark.usefixtures("fast_passwords")

ENVELOPE_KEYS = {"reqId", "statusCode", "message", "error"}
INTERNAL_REASON = "internal-reason-code-xyz"
INTERNAL_DETAIL = "db password=hunter2 at 10.9.8.7"
PROTECTED = "/api/v1/workspace"


def assert_envelope(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= ENVELOPE_KEYS, body
    assert body["statusCode"] == status
    assert body["error"] == error
    assert body["reqId"].startswith("req-")
    return body


# --- apps with routes that fail on purpose ----------------------------------------------------

ERROR_CLASSES = [
    errors.BadRequest,
    errors.Unauthorized,
    errors.InvalidCredentials,
    errors.TokenError,
    errors.Forbidden,
    errors.PermissionDenied,
    errors.PermissionBoundaryError,
    errors.NotFound,
    errors.Conflict,
    errors.PayloadTooLarge,
    errors.RateLimited,
    errors.ServiceUnavailable,
    errors.UpstreamUnavailable,
    errors.DecryptionFailed,
]
BY_NAME = {cls.__name__: cls for cls in ERROR_CLASSES}


def _add_probe_routes(app: FastAPI) -> None:
    def raise_named(name: str) -> None:
        headers = {"Retry-After": "7"} if name == "RateLimited" else None
        raise BY_NAME[name](reason=INTERNAL_REASON, headers=headers)

    def raise_unexpected() -> None:
        raise RuntimeError(INTERNAL_DETAIL)

    def raise_validation_failure() -> None:
        raise errors.ValidationFailure("accessTokenTrustedIps.0.ipAddress", "The IP is not valid")

    def write_then_fail(persist: bool, session: SessionDep, context: ContextDep, ctx: RequestCtxDep) -> None:
        record(session, AuditEntry(event="probe-write"), ctx, now=context.clock.now())
        session.flush()
        raise errors.BadRequest(
            "nope",
            reason="probe_failed",
            persist=persist,
            audit={"event": "probe-failure", "org_id": "org-1", "details": {"why": "testing"}},
        )

    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    app.add_api_route("/api/test/raise/{name}", raise_named)
    app.add_api_route("/api/test/echo", echo, methods=["POST"])
    app.add_api_route("/api/test/unexpected", raise_unexpected)
    app.add_api_route("/api/test/validation-failure", raise_validation_failure)
    app.add_api_route("/api/test/write-then-fail", write_then_fail, methods=["POST"])


@pytest.fixture
def probe_client(settings: Settings, engine: Engine, clock: FrozenClock) -> Iterator[TestClient]:
    """On both databases: for failures whose handling writes to the database."""
    app = create_app(settings, clock=clock, engine=engine)
    _add_probe_routes(app)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def local(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """SQLite, one app per module: for what the HTTP edge decides before any database work."""
    with local_app(sqlite_template, tmp_path_factory.mktemp("local")) as client:
        _add_probe_routes(client.app)  # type: ignore[arg-type]
        yield client


# --- mapping of the hierarchy -----------------------------------------------------------------


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_each_error_class_maps_to_its_status_and_wire_name(local: TestClient, cls: type) -> None:
    response = local.get(f"/api/test/raise/{cls.__name__}")
    body = assert_envelope(response, cls.status_code, cls.error)
    assert body["message"] == cls.default_message
    assert INTERNAL_REASON not in response.text
    assert response.headers["x-request-id"] == body["reqId"]


def test_error_headers_are_passed_on(local: TestClient) -> None:
    assert local.get("/api/test/raise/RateLimited").headers["retry-after"] == "7"


def test_the_wire_names_infisical_clients_see() -> None:
    assert (errors.TokenError.status_code, errors.TokenError.error) == (403, "TokenError")
    assert (errors.Unauthorized.status_code, errors.Unauthorized.error) == (401, "UnauthorizedError")
    assert (errors.ValidationFailure.status_code, errors.ValidationFailure.error) == (
        422,
        "ValidationFailure",
    )
    assert errors.InvalidCredentials.default_message == "Invalid credentials"


def test_service_validation_failure_reads_like_request_validation(local: TestClient) -> None:
    body = assert_envelope(local.get("/api/test/validation-failure"), 422, "ValidationFailure")
    assert body["message"] == [
        {
            "code": "invalid",
            "message": "The IP is not valid",
            "path": ["accessTokenTrustedIps", "0", "ipAddress"],
        }
    ]


def _body_500(response: Any) -> dict[str, Any]:
    assert response.status_code == 500
    body: dict[str, Any] = response.json()
    assert set(body) == ENVELOPE_KEYS
    return body


def test_unexpected_exception_is_a_bare_500(local: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    response = local.get("/api/test/unexpected", headers={"X-Request-Id": "trace-me-42"})
    assert _body_500(response) == {
        "reqId": "trace-me-42",
        "statusCode": 500,
        "message": "Something went wrong",
        "error": "InternalServerError",
    }
    for leak in (INTERNAL_DETAIL, "hunter2", "RuntimeError", "Traceback", "raise_unexpected"):
        assert leak not in response.text
    assert response.headers["x-request-id"] == "trace-me-42"
    # The operator finds the traceback in the log under the same request id.
    assert "trace-me-42" in caplog.text
    assert INTERNAL_DETAIL in caplog.text


def test_an_unexpected_500_still_gets_a_generated_request_id(local: TestClient) -> None:
    request_id = _body_500(local.get("/api/test/unexpected"))["reqId"]
    assert request_id.startswith("req-")
    assert len(request_id) == len("req-") + 14


@pytest.mark.parametrize("persist", [False, True], ids=["rolled-back", "persisted"])
def test_a_failure_rolls_back_unless_asked_to_persist_and_is_audited(
    probe_client: TestClient, engine: Engine, persist: bool
) -> None:
    response = probe_client.post(f"/api/test/write-then-fail?persist={str(persist).lower()}")
    assert_envelope(response, 400, "BadRequest")
    assert "probe_failed" not in response.text
    with engine.connect() as conn:
        writes = conn.scalar(select(func.count()).where(AuditEvent.event == "probe-write"))
        failure = conn.execute(select(AuditEvent).where(AuditEvent.event == "probe-failure")).one()
    assert writes == (1 if persist else 0)
    assert (failure.outcome, failure.reason, failure.org_id) == ("failure", "probe_failed", "org-1")
    assert failure.details == {"why": "testing"}
    assert failure.request_id == response.json()["reqId"]
    assert failure.ip == CLIENT_ADDR[0]


# --- framework-level errors -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v9/nothing", "/nothing", "/api/v1/workspace/x/y/z/w"])
def test_unknown_route_is_404_with_the_route_named(local: TestClient, path: str) -> None:
    body = assert_envelope(local.get(path), 404, "NotFound")
    assert body["message"] == f"Route GET:{path} not found"


def test_wrong_method_is_405(local: TestClient) -> None:
    body = assert_envelope(local.delete("/api/status"), 405, "MethodNotAllowed")
    assert body["message"] == "Method Not Allowed"


# --- request validation (422) -----------------------------------------------------------------


def test_validation_lists_every_issue_with_its_path(local: TestClient) -> None:
    response = local.post("/api/v1/admin/bootstrap", json={"email": "not-an-email", "organization": ""})
    body = assert_envelope(response, 422, "ValidationFailure")
    issues = body["message"]
    assert isinstance(issues, list)
    assert {tuple(issue["path"]) for issue in issues} == {("email",), ("password",), ("organization",)}
    for issue in issues:
        assert set(issue) >= {"code", "message", "path"}
        assert issue["location"] == "body"
    assert "details" not in body


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("Sh0rt!pw", id="too-short"),
        pytest.param("zzzzzzzzzzzzzzzzzzzzPASS", id="too-simple"),
        pytest.param("Q" * 300, id="too-long"),
    ],
)
def test_validation_never_echoes_the_input(local: TestClient, password: str) -> None:
    response = local.post("/api/v1/admin/bootstrap", json={**BOOTSTRAP_BODY, "password": password})
    body = assert_envelope(response, 422, "ValidationFailure")
    assert [issue["path"] for issue in body["message"]] == [["password"]]
    assert password[:8] not in response.text


def test_malformed_json_is_422_without_echo(local: TestClient) -> None:
    raw = '{"email": "a@example.com", "password": "Sekr1t-Value-99", '
    response = local.post(
        "/api/v1/admin/bootstrap", content=raw, headers={"Content-Type": "application/json"}
    )
    body = assert_envelope(response, 422, "ValidationFailure")
    assert body["message"][0]["code"] == "json_invalid"
    assert "Sekr1t-Value-99" not in response.text


def test_unknown_body_fields_are_ignored(client: TestClient) -> None:
    response = client.post("/api/v1/admin/bootstrap", json={**BOOTSTRAP_BODY, "role": "superuser", "x": [1]})
    assert response.status_code == 200, response.text


# --- oversize bodies (413) --------------------------------------------------------------------

LIMIT = 1024


@pytest.fixture(scope="module")
def small(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with local_app(sqlite_template, tmp_path_factory.mktemp("small"), max_body_bytes=LIMIT) as client:
        _add_probe_routes(client.app)  # type: ignore[arg-type]
        yield client


def _chunks(data: bytes, size: int = 256) -> Iterator[bytes]:
    """Sent without Content-Length (chunked), so the size is only known while reading."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _json_of_size(size: int) -> bytes:
    padding = size - len(json.dumps({**BOOTSTRAP_BODY, "pad": ""}).encode())
    data = json.dumps({**BOOTSTRAP_BODY, "pad": "p" * padding}).encode()
    assert len(data) == size
    return data


@pytest.mark.parametrize(
    ("content_type", "chunked"),
    [
        pytest.param("application/json", False, id="json-declared-length"),
        pytest.param("application/json", True, id="json-chunked"),
        pytest.param("application/x-www-form-urlencoded", False, id="form-declared-length"),
        pytest.param("application/x-www-form-urlencoded", True, id="form-chunked"),
    ],
)
def test_oversize_body_is_413(small: TestClient, content_type: str, chunked: bool) -> None:
    data = b"a=" + b"b" * LIMIT if "form" in content_type else _json_of_size(LIMIT + 1)
    content: Any = _chunks(data) if chunked else data
    response = small.post("/api/v1/admin/bootstrap", content=content, headers={"Content-Type": content_type})
    body = assert_envelope(response, 413, "PayloadTooLarge")
    assert body["message"] == "The request body is too large"
    assert response.headers["x-request-id"] == body["reqId"]


@pytest.mark.parametrize("chunked", [False, True], ids=["declared-length", "chunked"])
def test_a_body_of_exactly_the_limit_is_accepted(small: TestClient, chunked: bool) -> None:
    data = _json_of_size(LIMIT)
    content: Any = _chunks(data) if chunked else data
    response = small.post("/api/test/echo", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json() == {"received": LIMIT}


def test_a_small_chunked_form_body_still_reaches_the_route(small: TestClient) -> None:
    response = small.post(
        "/api/test/echo",
        content=_chunks(b"name=a%20b&empty=&n=1", size=4),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"received": len(b'{"name": "a b", "empty": "", "n": "1"}')}


# --- bearer tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": ""}, id="empty"),
        pytest.param({"Authorization": "Bearer"}, id="scheme-only"),
        pytest.param({"Authorization": "Bearer    "}, id="scheme-and-spaces"),
    ],
)
def test_missing_token_is_401(local: TestClient, headers: dict[str, str]) -> None:
    body = assert_envelope(local.get(PROTECTED, headers=headers), 401, "UnauthorizedError")
    assert body["message"] == "Token missing"


OTHER_KEY = "x" * 64


def _claims(clock: FrozenClock, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "identityId": "7f8c2a52-0000-4000-8000-000000000001",
        "identityAccessTokenId": "7f8c2a52-0000-4000-8000-000000000002",
        "authTokenType": IDENTITY_ACCESS_TOKEN_TYPE,
        "iat": int(clock.now().timestamp()),
    }
    claims.update(overrides)
    return claims


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{part(json.dumps(claims).encode())}."


def _bad_token(kind: str, clock: FrozenClock) -> str:
    claims = _claims(clock)
    expired = _claims(clock, exp=int((clock.now() - timedelta(days=1)).timestamp()))
    good = jwt.encode(claims, TEST_AUTH_SECRET, algorithm="HS256")
    return {
        "garbled": lambda: "not.a.jwt",
        "random-text": lambda: "hello",
        "forged-hs256": lambda: jwt.encode(claims, OTHER_KEY, algorithm="HS256"),
        "hs512-other-key": lambda: jwt.encode(claims, OTHER_KEY, algorithm="HS512"),
        "alg-none": lambda: _unsigned(claims),
        "expired": lambda: jwt.encode(expired, TEST_AUTH_SECRET, algorithm="HS256"),
        "truncated-signature": lambda: good[:-4],
    }[kind]()


BAD_TOKEN_MESSAGES = {
    "garbled": "malformed",
    "random-text": "malformed",
    "forged-hs256": "malformed",
    "hs512-other-key": "invalid algorithm",
    "alg-none": "invalid algorithm",
    "expired": "Your token has expired",
    "truncated-signature": "malformed",
}


@pytest.mark.parametrize("kind", list(BAD_TOKEN_MESSAGES))
def test_bad_bearer_token_is_403_token_error(local: TestClient, clock: FrozenClock, kind: str) -> None:
    headers = {"Authorization": f"Bearer {_bad_token(kind, clock)}"}
    body = assert_envelope(local.get(PROTECTED, headers=headers), 403, "TokenError")
    assert BAD_TOKEN_MESSAGES[kind] in body["message"]


def test_a_signed_token_of_another_type_is_treated_as_no_token(local: TestClient, clock: FrozenClock) -> None:
    token = jwt.encode(_claims(clock, authTokenType="accessToken"), TEST_AUTH_SECRET, algorithm="HS256")
    body = assert_envelope(
        local.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}), 401, "UnauthorizedError"
    )
    assert body["message"] == "Token missing"


def _resigned(admin: Admin, **overrides: Any) -> dict[str, str]:
    claims = {**jwt.decode(admin.token, options={"verify_signature": False}), **overrides}
    return {"Authorization": f"Bearer {jwt.encode(claims, TEST_AUTH_SECRET, algorithm='HS256')}"}


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(
            {"identityAccessTokenId": "00000000-0000-0000-0000-000000000000"}, id="no-such-token-row"
        ),
        pytest.param({"identityId": "00000000-0000-0000-0000-000000000000"}, id="row-of-another-identity"),
    ],
)
def test_a_validly_signed_token_must_name_a_row_of_its_identity(
    client: TestClient, admin: Admin, overrides: dict[str, str]
) -> None:
    body = assert_envelope(
        client.get(PROTECTED, headers=_resigned(admin, **overrides)), 401, "UnauthorizedError"
    )
    assert body["message"] == "No identity access token found"
    # The real token is unaffected by the attempts.
    assert client.get(PROTECTED, headers=admin.headers).status_code == 200


def test_the_scheme_word_is_not_checked(client: TestClient, admin: Admin) -> None:
    # Infisical drops the first seven characters whatever they are; clients send "Bearer ".
    assert client.get(PROTECTED, headers={"Authorization": f"bearer {admin.token}"}).status_code == 200


# --- request ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        pytest.param("a" * 32, True, id="32-characters-kept"),
        pytest.param("a" * 33, False, id="33-characters-replaced"),
        pytest.param("b" * 64, False, id="64-characters-replaced"),
        pytest.param("id with spaces", False, id="unsafe-characters-replaced"),
    ],
)
def test_a_callers_request_id_is_kept_only_when_it_fits_the_audit_log(
    client: TestClient, engine: Engine, sent: str, kept: bool
) -> None:
    """Regression: a 33-64 character id used to be accepted and then failed every audited request
    with a 500 on PostgreSQL (the audit column holds 32)."""
    response = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY, headers={"X-Request-Id": sent})
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    assert (request_id == sent) is kept
    with engine.connect() as conn:
        stored = set(conn.scalars(select(AuditEvent.request_id)))
    assert stored == {request_id}
