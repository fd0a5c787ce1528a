"""Catalogue §2.1, Universal Auth (UA-1 … UA-15), on SQLite and PostgreSQL.

Statuses follow Tessera's wire contract: every login failure is the same 401 "Invalid
credentials"; schema violations are 422 ValidationFailure (Infisical's status for them, where
the catalogue suggests 400); a malformed form body is 400.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from tessera.audit.models import AuditEvent
from tessera.auth.universal.models import IdentityUniversalAuth
from tessera.settings import Settings
from tests.conftest import Admin, make_settings
from tests.factories import local_app
from tests.factories_auth import (
    UA,
    all_at_once,
    attach_ua,
    audit_ids,
    client_at,
    create_client_secret,
    create_identity,
    new_failures,
    serve,
    session_of,
    ua_identity,
    ua_login,
    update_identity,
)
from tests.security.support import (
    NO_RATE_LIMITS,
    count_rows,
    raw_http,
    same_answer,
    secret_uses,
    status_of,
    token_count,
)

LOGIN = f"{UA}/login"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Rate limits off: these cases send more logins than the shipped per-IP limit allows."""
    return make_settings(db_url, tmp_path / "data", **NO_RATE_LIMITS)


def _wrong(secret: str) -> str:
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


def _secret_id(client: TestClient, admin: Admin, identity_id: str) -> str:
    data = client.get(f"{UA}/identities/{identity_id}/client-secrets", headers=admin.headers).json()
    return str(data["clientSecretData"][0]["id"])


def _lockout_attempts(app: Any, identity_id: str) -> int:
    with session_of(app) as session:
        config = session.query(IdentityUniversalAuth).filter_by(identity_id=identity_id).one()
        return int(config.lockout_failed_attempts)


def test_ua_1_baseline_login(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin, accessTokenTTL=600)
    before = token_count(app)
    response = ua_login(client, client_id, secret)
    assert response.status_code == 200
    claims = jwt.decode(response.json()["accessToken"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600 == response.json()["expiresIn"]
    assert token_count(app) == before + 1
    assert secret_uses(app, _secret_id(client, admin, identity_id)) == 1


def test_ua_2_wrong_secret(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin)
    before = token_count(app)
    response = ua_login(client, client_id, _wrong(secret))
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid credentials"
    assert token_count(app) == before
    assert _lockout_attempts(app, identity_id) == 1
    assert secret_uses(app, _secret_id(client, admin, identity_id)) == 0


def test_ua_3_no_enumeration_through_status_body_or_headers(
    client: TestClient, app: Any, admin: Admin
) -> None:
    removed_identity = create_identity(app, admin.org_id)
    removed_client = attach_ua(client, admin, removed_identity)["clientId"]
    removed_secret, _ = create_client_secret(client, admin, removed_identity)
    assert client.delete(f"{UA}/identities/{removed_identity}", headers=admin.headers).status_code == 200
    _, valid_client, valid_secret = ua_identity(client, app, admin, lockoutEnabled=False)
    disabled_identity, disabled_client, disabled_secret = ua_identity(client, app, admin)
    update_identity(app, disabled_identity, is_active=False)
    before = token_count(app)

    answers = {
        "unknown-client-id": ua_login(client, "0" * 36, valid_secret),
        "method-removed": ua_login(client, removed_client, removed_secret),
        "wrong-secret": ua_login(client, valid_client, _wrong(valid_secret)),
        "identity-disabled": ua_login(client, disabled_client, disabled_secret),
    }
    reference = answers["wrong-secret"]
    assert reference.status_code == 401
    for name, answer in answers.items():
        assert answer.status_code == 401, name
        same_answer(reference, answer)
    assert token_count(app) == before


def test_ua_4_no_enumeration_through_timing(client: TestClient, app: Any, admin: Admin) -> None:
    """Unknown client ids run the same lookups and keyed-hash comparison as known ones."""
    _, client_id, secret = ua_identity(client, app, admin, lockoutEnabled=False)
    wrong = _wrong(secret)
    unknown: list[float] = []
    known: list[float] = []
    for _ in range(40):  # interleaved, so drift in machine load hits both classes alike
        for sink, cid in ((unknown, "f" * 36), (known, client_id)):
            started = time.perf_counter()
            assert ua_login(client, cid, wrong).status_code == 401
            sink.append(time.perf_counter() - started)
    gap = abs(statistics.median(unknown) - statistics.median(known))
    # Generous bounds for a loaded CI machine; a password hash on one path only (tens of ms)
    # or an early return (a few ms against a database round trip) would still show.
    assert gap < max(0.010, 0.5 * statistics.median(known)), (
        statistics.median(unknown),
        statistics.median(known),
    )


def test_ua_5_revoked_client_secret(client: TestClient, app: Any, admin: Admin) -> None:
    """Documented rule: revoking a client secret also revokes the tokens minted with it."""
    identity_id, client_id, secret = ua_identity(client, app, admin)
    token = ua_login(client, client_id, secret).json()["accessToken"]
    secret_id = _secret_id(client, admin, identity_id)
    revoked = client.post(
        f"{UA}/identities/{identity_id}/client-secrets/{secret_id}/revoke", headers=admin.headers
    )
    assert revoked.status_code == 200
    before = token_count(app)
    assert ua_login(client, client_id, secret).status_code == 401
    assert token_count(app) == before
    used = client.get(
        f"/api/v1/identities/{identity_id}/tokens", headers={"Authorization": f"Bearer {token}"}
    )
    assert used.status_code == 401


def test_ua_6_client_secret_ttl_expired(client: TestClient, app: Any, admin: Admin, clock: Any) -> None:
    _, client_id, secret = ua_identity(client, app, admin, secret={"ttl": 2})
    clock.advance(3)
    before = token_count(app)
    assert ua_login(client, client_id, secret).status_code == 401
    assert token_count(app) == before


@pytest.mark.timeout(120)
def test_ua_7_client_secret_num_uses_under_concurrency(client: TestClient, app: Any, admin: Admin) -> None:
    for _ in range(3):
        identity_id, client_id, secret = ua_identity(client, app, admin, secret={"numUsesLimit": 5})
        before = token_count(app)
        with serve(app) as base, httpx.Client(base_url=base, timeout=60) as http:
            statuses = all_at_once(
                50,
                lambda _i, h=http, c=client_id, s=secret: (
                    h.post(LOGIN, json={"clientId": c, "clientSecret": s}).status_code
                ),
            )
            assert sorted(statuses) == [200] * 5 + [401] * 45
            assert http.post(LOGIN, json={"clientId": client_id, "clientSecret": secret}).status_code == 401
        assert secret_uses(app, _secret_id_any(app, identity_id)) == 5
        assert token_count(app) == before + 5


def _secret_id_any(app: Any, identity_id: str) -> str:
    from tessera.auth.universal.models import IdentityUAClientSecret

    with session_of(app) as session:
        config = session.query(IdentityUniversalAuth).filter_by(identity_id=identity_id).one()
        row = session.query(IdentityUAClientSecret).filter_by(identity_ua_id=config.id).one()
        return str(row.id)


def test_ua_8_client_secret_trusted_ip_is_checked_before_the_secret(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id, client_id, secret = ua_identity(
        client, app, admin, clientSecretTrustedIps=[{"ipAddress": "127.0.0.2/32"}], secret={"numUsesLimit": 3}
    )
    before = token_count(app)
    outside = ua_login(client_at(app, "127.0.0.3"), client_id, secret)
    wrong_secret_inside = ua_login(client_at(app, "127.0.0.2"), client_id, _wrong(secret))
    same_answer(wrong_secret_inside, outside)
    assert token_count(app) == before
    assert secret_uses(app, _secret_id(client, admin, identity_id)) == 0
    assert ua_login(client_at(app, "127.0.0.2"), client_id, secret).status_code == 200


@pytest.mark.parametrize(
    "variant",
    [" {}", "{} ", "upper", "{}\u200b"],
    ids=["leading-space", "trailing-space", "upper-case", "zero-width-space"],
)
def test_ua_9_lockout_holds_against_client_id_variants(
    client: TestClient, app: Any, admin: Admin, clock: Any, variant: str
) -> None:
    _, client_id, secret = ua_identity(
        client, app, admin, lockoutThreshold=5, lockoutDurationSeconds=300, lockoutCounterResetSeconds=60
    )
    for _ in range(5):
        assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    assert ua_login(client, client_id, secret).status_code == 401  # locked: the right secret fails too
    spelled = client_id.upper() if variant == "upper" else variant.format(client_id)
    assert spelled != client_id
    assert ua_login(client, spelled, secret).status_code == 401  # an unknown id, not a way around
    assert ua_login(client, client_id, secret).status_code == 401  # still locked
    clock.advance(301)
    assert ua_login(client, client_id, secret).status_code == 200


def test_ua_10_lockout_not_bypassed_by_forwarded_headers(client: TestClient, app: Any, admin: Admin) -> None:
    """No trusted proxy: rotating X-Forwarded-For / X-Real-IP neither dodges the lock nor the audit IP."""
    _, client_id, secret = ua_identity(client, app, admin, lockoutThreshold=5)
    seen = audit_ids(app)
    for attempt in range(5):
        spoof = {"X-Forwarded-For": f"198.51.100.{attempt}", "X-Real-IP": f"203.0.113.{attempt}"}
        assert ua_login(client, client_id, _wrong(secret), headers=spoof).status_code == 401
    assert ua_login(client, client_id, secret, headers={"X-Forwarded-For": "192.0.2.99"}).status_code == 401
    assert {event.ip for event in new_failures(app, seen)} == {"127.0.0.1"}


@pytest.mark.parametrize(
    "body",
    [
        "clientId={c}&clientId=other&clientSecret=%ZZ",
        "clientId={c}&clientId={c}&clientSecret={s}",
        "clientId={c}&clientSecret=%ZZ",
        "clientId={c}&clientSecret=%C3%28",
    ],
    ids=["catalogue-example", "repeated-field", "bad-escape", "invalid-utf8"],
)
def test_ua_11_malformed_form_encoding(client: TestClient, app: Any, admin: Admin, body: str) -> None:
    _, client_id, secret = ua_identity(client, app, admin)
    before = token_count(app)
    response = client.post(
        LOGIN,
        content=body.format(c=client_id, s=secret),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest"
    assert token_count(app) == before


@pytest.mark.parametrize(
    "value",
    [123, ["S"], {"$ne": ""}, None, "", True],
    ids=["number", "list", "operator-object", "null", "empty", "boolean"],
)
def test_ua_12_json_type_confusion(client: TestClient, app: Any, admin: Admin, value: Any) -> None:
    _, client_id, _ = ua_identity(client, app, admin)
    before = token_count(app)
    response = client.post(LOGIN, json={"clientId": client_id, "clientSecret": value})
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationFailure"
    assert token_count(app) == before


def test_ua_12_duplicate_json_keys_last_wins_and_is_what_is_checked(
    client: TestClient, app: Any, admin: Admin
) -> None:
    _, client_id, secret = ua_identity(client, app, admin)
    head = '{"clientId": "' + client_id + '", '
    good_last = head + '"clientSecret": "x", "clientSecret": "' + secret + '"}'
    bad_last = head + '"clientSecret": "' + secret + '", "clientSecret": "x"}'
    headers = {"Content-Type": "application/json"}
    assert client.post(LOGIN, content=bad_last, headers=headers).status_code == 401
    assert client.post(LOGIN, content=good_last, headers=headers).status_code == 200


def test_ua_13_oversized_body_refused_before_it_is_read(app: Any) -> None:
    """A 10 MiB declared body gets 413 after only its headers were sent (nothing buffered)."""
    with serve(app) as base:
        head = (
            f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
        ).encode()
        started = time.monotonic()
        answer = raw_http(base, head + b'{"clientId": "')
        assert status_of(answer) == 413
        assert time.monotonic() - started < 2
        # A chunked body with no declared size is cut off at the limit as well.
        chunk = b"x" * 65536
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
        chunked = (
            f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        assert status_of(raw_http(base, chunked + chunks)) == 413


@pytest.mark.parametrize(
    "body",
    [
        '{"a":' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"a":' + "[" * 1_000 + "]" * 1_000 + "}",
        "{" + ",".join(f'"k{i}":1' for i in range(60_000)) + "}",
        "{" + ",".join(f'"k{i}":1' for i in range(200_000)) + "}",
    ],
    ids=["depth-100000", "depth-1000", "keys-60000", "keys-200000"],
)
def test_ua_14_json_complexity_bomb(shipped: TestClient, body: str) -> None:
    """Regression: deep nesting was a 500 (RecursionError in the login rate limiter's body peek)."""
    started = time.monotonic()
    response = shipped.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in {400, 413, 422}, response.text
    assert time.monotonic() - started < 1.5


@pytest.fixture(scope="module")
def shipped(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app with the shipped settings (rate limits on), for requests refused before any write."""
    with local_app(sqlite_template, tmp_path_factory.mktemp("shipped")) as client:
        yield client


# Routes a caller may use without an access token, and why.
UNAUTHENTICATED = {
    ("GET", "/api/status"),  # the status probe Infisical clients call
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),  # its own bearer (TESSERA_METRICS_TOKEN), or 404 when off
    ("POST", "/api/v1/admin/bootstrap"),  # once, on an empty server
    ("POST", "/api/v1/auth/universal-auth/login"),
    ("POST", "/api/v1/auth/azure-auth/login"),
    ("POST", "/api/v1/auth/refresh-token-auth/login"),
    ("POST", "/api/v1/auth/refresh-token/login"),
    ("POST", "/api/v1/auth/token/renew"),  # the token itself is the proof, in the body
    ("POST", "/api/v1/auth/token/revoke"),
}


def _inventory(app: Any) -> list[tuple[str, str]]:
    schema = app.openapi()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method.upper() in {"GET", "POST", "PATCH", "PUT", "DELETE"}
    )


def test_ua_15_every_route_outside_the_allow_list_needs_a_token(
    client: TestClient, app: Any, admin: Admin
) -> None:
    routes = _inventory(app)
    assert len(routes) > 150
    for method, path in routes:
        if (method, path) in UNAUTHENTICATED:
            continue
        url = path.replace("{", "").replace("}", "")  # every path parameter becomes a plain word
        response = client.request(method, url, json={}, params={"workspaceId": "x", "environment": "dev"})
        assert response.status_code == 401, (method, path, response.status_code, response.text)
        assert response.json()["message"] == "Token missing"
    # Nothing the anonymous requests did was recorded as a success.
    assert (
        count_rows(app, AuditEvent, AuditEvent.outcome == "success", AuditEvent.actor_type == "anonymous")
        == 0
    )
    del admin  # the server is bootstrapped, so "set-up" routes are closed too
