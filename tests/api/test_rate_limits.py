"""Rate limits over HTTP, on SQLite and PostgreSQL (database buckets; Redis in tests/scaleout).

Limits are set low here so that a handful of requests reach them; the FrozenClock decides when
buckets refill. Covers 429 + Retry-After in the Infisical envelope, per-IP and per-identity
buckets, spoofed forwarding headers, client-id spelling variants, and that a refused request
consumes nothing (no token use, no lockout count, no client-secret use).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tessera.auth.universal.models import IdentityUniversalAuth
from tessera.clock import FrozenClock
from tessera.ratelimit.limiter import EXTRAS_KEY, Limiter
from tessera.ratelimit.models import RateLimitBucket
from tessera.settings import Settings
from tests.conftest import Admin, make_settings
from tests.factories_auth import (
    UA,
    all_at_once,
    bearer,
    client_at,
    serve,
    session_of,
    token_auth_token,
    token_row,
    ua_identity,
    ua_login,
    use_token,
)

pytestmark = pytest.mark.usefixtures("fast_passwords")

LOGIN_IP = 5  # per 60 s: one request refills every 12 s
LOGIN_IDENTITY = 3  # per 60 s: every 20 s
SECRETS_IDENTITY = 4  # per 60 s: every 15 s


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        db_url,
        tmp_path / "data",
        rate_limit_login_per_ip=f"{LOGIN_IP}/60",
        rate_limit_login_per_identity="off",
        rate_limit_secrets_per_ip="off",
        rate_limit_secrets_per_identity="off",
    )


def _wrong(secret: str) -> str:
    return secret[:-1] + ("0" if secret[-1] != "0" else "1")


def _assert_429(response: Any, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert (body["statusCode"], body["error"]) == (429, "RateLimitExceeded")
    assert body["message"] == "Too many requests, please try again later"
    assert body["reqId"] == response.headers["x-request-id"]
    assert response.headers["retry-after"] == str(retry_after)


def _lockout_failures(app: Any, client_id: str) -> int:
    with session_of(app) as session:
        value = session.scalar(
            select(IdentityUniversalAuth.lockout_failed_attempts).where(
                IdentityUniversalAuth.client_id == client_id
            )
        )
        return int(value or 0)


# --- login, per client IP ------------------------------------------------------------------------


def test_rl16_login_flood_from_one_ip_gets_429_with_retry_after(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    _, client_id, secret = ua_identity(client, app, admin, lockoutEnabled=False)
    for _ in range(LOGIN_IP):
        assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    _assert_429(ua_login(client, client_id, secret), retry_after=12)
    # Correct credentials from another address are unaffected.
    assert ua_login(client_at(app, "127.0.0.2"), client_id, secret).status_code == 200
    clock.advance(11)
    assert ua_login(client, client_id, secret).status_code == 429
    clock.advance(1)
    assert ua_login(client, client_id, secret).status_code == 200
    assert ua_login(client, client_id, secret).status_code == 429


def test_ua10_forwarding_headers_from_an_untrusted_peer_do_not_change_the_bucket(
    client: TestClient, app: Any, admin: Admin
) -> None:
    _, client_id, secret = ua_identity(client, app, admin, lockoutEnabled=False)
    statuses = [
        ua_login(
            client,
            client_id,
            _wrong(secret),
            headers={"X-Forwarded-For": f"10.0.0.{i}", "X-Real-IP": f"10.0.1.{i}"},
        ).status_code
        for i in range(LOGIN_IP + 3)
    ]
    assert statuses == [401] * LOGIN_IP + [429] * 3


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(
    db_url: str, tmp_path: Path, clock: FrozenClock, engine: Engine
) -> None:
    from tessera.app import create_app

    settings = make_settings(
        db_url, tmp_path / "proxy", trusted_proxies=["127.0.0.9/32"], rate_limit_login_per_ip="2/60"
    )
    app = create_app(settings, clock=clock, engine=engine)
    proxy = client_at(app, "127.0.0.9")
    body = {"clientId": "nobody", "clientSecret": "wrong"}

    def login(forwarded: str) -> int:
        return proxy.post(f"{UA}/login", json=body, headers={"X-Forwarded-For": forwarded}).status_code

    assert [login("203.0.113.7") for _ in range(3)] == [401, 401, 429]
    assert login("203.0.113.8") == 401
    # A client that prepends a fake hop is still counted as the address the proxy saw.
    assert login("198.51.100.1, 203.0.113.7") == 429


def test_ipv6_clients_are_counted_by_their_64(
    db_url: str, tmp_path: Path, clock: FrozenClock, engine: Engine
) -> None:
    from tessera.app import create_app

    settings = make_settings(db_url, tmp_path / "v6", rate_limit_login_per_ip="2/60")
    app = create_app(settings, clock=clock, engine=engine)
    body = {"clientId": "nobody", "clientSecret": "wrong"}
    statuses = [
        client_at(app, f"2001:db8:1:2::{i}").post(f"{UA}/login", json=body).status_code for i in range(3)
    ]
    assert statuses == [401, 401, 429]
    assert client_at(app, "2001:db8:1:3::1").post(f"{UA}/login", json=body).status_code == 401


def test_a_refused_login_counts_no_failure_and_uses_no_secret(
    client: TestClient, app: Any, admin: Admin
) -> None:
    _, client_id, secret = ua_identity(client, app, admin, lockoutThreshold=30)
    for _ in range(LOGIN_IP):
        assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    assert _lockout_failures(app, client_id) == LOGIN_IP
    assert ua_login(client, client_id, _wrong(secret)).status_code == 429
    assert _lockout_failures(app, client_id) == LOGIN_IP


def test_other_routes_are_not_login_limited(client: TestClient, app: Any, admin: Admin) -> None:
    for _ in range(LOGIN_IP + 2):
        assert client.get("/api/status").status_code == 200
        assert client.get("/api/v1/auth/universal-auth/login").status_code == 405


# --- login, per identity -------------------------------------------------------------------------


@pytest.fixture
def identity_limited(
    db_url: str, tmp_path: Path, clock: FrozenClock, engine: Engine
) -> Iterator[tuple[TestClient, Any]]:
    from tessera.app import create_app

    settings = make_settings(
        db_url,
        tmp_path / "ident",
        rate_limit_login_per_ip="off",
        rate_limit_login_per_identity=f"{LOGIN_IDENTITY}/60",
    )
    app = create_app(settings, clock=clock, engine=engine)
    with TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False) as test_client:
        yield test_client, app


def test_ua9_client_id_spelling_variants_share_one_bucket(
    identity_limited: tuple[TestClient, Any], admin_factory: Any
) -> None:
    client, app = identity_limited
    admin = admin_factory(client)
    _, client_id, secret = ua_identity(client, app, admin, lockoutEnabled=False)
    variants = [client_id, f" {client_id}", f"{client_id} ", client_id.upper()]
    statuses = [ua_login(client, variant, _wrong(secret)).status_code for variant in variants]
    assert statuses == [401, 401, 401, 429]
    _assert_429(ua_login(client, client_id, secret), retry_after=20)
    # Another identity, from the same address, is unaffected.
    _, other_id, other_secret = ua_identity(client, app, admin)
    assert ua_login(client, other_id, other_secret).status_code == 200


def test_identity_bucket_holds_across_addresses(
    identity_limited: tuple[TestClient, Any], admin_factory: Any
) -> None:
    client, app = identity_limited
    admin = admin_factory(client)
    _, client_id, secret = ua_identity(client, app, admin)
    statuses = [
        ua_login(client_at(app, f"127.0.3.{i}"), client_id, secret).status_code
        for i in range(LOGIN_IDENTITY + 1)
    ]
    assert statuses == [200] * LOGIN_IDENTITY + [429]


def test_form_encoded_logins_count_against_the_same_identity(
    identity_limited: tuple[TestClient, Any], admin_factory: Any
) -> None:
    client, app = identity_limited
    admin = admin_factory(client)
    _, client_id, secret = ua_identity(client, app, admin)
    statuses = []
    for i in range(LOGIN_IDENTITY + 1):
        form = {"clientId": client_id, "clientSecret": secret}
        response = client.post(f"{UA}/login", data=form) if i % 2 else ua_login(client, client_id, secret)
        statuses.append(response.status_code)
    assert statuses == [200] * LOGIN_IDENTITY + [429]


def test_malformed_login_bodies_are_still_answered_by_the_route(
    identity_limited: tuple[TestClient, Any],
) -> None:
    client, _ = identity_limited
    response = client.post(f"{UA}/login", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


@pytest.fixture
def admin_factory() -> Any:
    from tests.conftest import BOOTSTRAP_BODY

    def make(client: TestClient) -> Admin:
        body = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY).json()
        return Admin(
            token=body["identity"]["credentials"]["token"],
            org_id=body["organization"]["id"],
            identity_id=body["identity"]["id"],
            user_id=body["user"]["id"],
        )

    return make


# --- secret routes -------------------------------------------------------------------------------


@pytest.fixture
def secrets_limited(
    db_url: str, tmp_path: Path, clock: FrozenClock, engine: Engine
) -> Iterator[tuple[TestClient, Any]]:
    from tessera.app import create_app

    settings = make_settings(
        db_url,
        tmp_path / "secrets",
        rate_limit_login_per_ip="off",
        rate_limit_login_per_identity="off",
        rate_limit_secrets_per_identity=f"{SECRETS_IDENTITY}/60",
        rate_limit_secrets_per_ip="off",
    )
    app = create_app(settings, clock=clock, engine=engine)
    with TestClient(app, client=("127.0.0.1", 50000), raise_server_exceptions=False) as test_client:
        yield test_client, app


def _list_secrets(client: TestClient, token: str, project_id: str) -> Any:
    return client.get(
        "/api/v3/secrets/raw",
        params={"workspaceId": project_id, "environment": "dev", "secretPath": "/"},
        headers=bearer(token),
    )


def test_secret_reads_are_limited_per_identity_and_a_refusal_uses_nothing(
    secrets_limited: tuple[TestClient, Any], admin_factory: Any, clock: FrozenClock
) -> None:
    client, app = secrets_limited
    admin = admin_factory(client)
    project = client.post("/api/v2/workspace", json={"projectName": "P"}, headers=admin.headers).json()
    project_id = project["project"]["id"]
    _, token, token_id = token_auth_token(client, app, admin, accessTokenNumUsesLimit=100)
    statuses = [_list_secrets(client, token, project_id).status_code for _ in range(SECRETS_IDENTITY + 2)]
    assert statuses == [200] * SECRETS_IDENTITY + [429, 429]
    # The refused requests never reached authentication, so they took none of the token's uses.
    assert token_row(app, token_id).num_uses == SECRETS_IDENTITY
    _assert_429(_list_secrets(client, token, project_id), retry_after=15)
    # Non-secret routes and other identities are unaffected.
    assert use_token(client, token, token_row(app, token_id).identity_id).status_code == 200
    assert _list_secrets(client, admin.token, project_id).status_code == 200
    clock.advance(15)
    assert _list_secrets(client, token, project_id).status_code == 200


def test_forged_tokens_do_not_get_an_identity_bucket(
    secrets_limited: tuple[TestClient, Any], admin_factory: Any
) -> None:
    client, _app = secrets_limited
    admin = admin_factory(client)
    forged = admin.token[:-4] + ("AAAA" if not admin.token.endswith("AAAA") else "BBBB")
    statuses = {_list_secrets(client, forged, "p").status_code for _ in range(SECRETS_IDENTITY + 2)}
    assert statuses == {403}
    # The real identity's bucket was not drained by someone presenting a forged token for it.
    assert _list_secrets(client, admin.token, "p").status_code != 429


def test_secret_limits_are_off_by_default(client: TestClient, admin: Admin, project: dict[str, Any]) -> None:
    statuses = {_list_secrets(client, admin.token, project["id"]).status_code for _ in range(30)}
    assert statuses == {200}


# --- exactness and failure ------------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_requests_take_exactly_the_limit(
    identity_limited: tuple[TestClient, Any], admin_factory: Any
) -> None:
    client, app = identity_limited
    admin = admin_factory(client)
    _, client_id, secret = ua_identity(client, app, admin)
    with (
        serve(app) as base,
        httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=40)) as http,
    ):
        responses = all_at_once(
            30, lambda _i: http.post(f"{UA}/login", json={"clientId": client_id, "clientSecret": secret})
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * LOGIN_IDENTITY + [429] * (30 - LOGIN_IDENTITY)


def test_buckets_hold_no_addresses_or_client_ids(
    identity_limited: tuple[TestClient, Any], admin_factory: Any
) -> None:
    client, app = identity_limited
    admin = admin_factory(client)
    _, client_id, secret = ua_identity(client, app, admin)
    ua_login(client, client_id, secret)
    with session_of(app) as session:
        keys = list(session.scalars(select(RateLimitBucket.key_hash)))
    assert len(keys) == 1
    assert client_id not in keys[0]
    assert len(keys[0]) == 64


def test_when_no_store_can_count_the_request_it_is_refused_with_503(
    client: TestClient, app: Any, admin: Admin
) -> None:
    from sqlalchemy.exc import OperationalError

    class Down:
        name = "down"

        def hit(self, key: str, rate: Any, now_ms: int) -> int:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    limiter = _limiter(app)
    original = limiter.backend
    limiter.backend = Down()
    try:
        response = ua_login(client, "anyone", "anything")
    finally:
        limiter.backend = original
    assert response.status_code == 503
    assert (response.json()["statusCode"], response.json()["error"]) == (503, "ServiceUnavailable")


def _limiter(app: Any) -> Limiter:
    for layer in app.user_middleware:
        limiter = layer.kwargs.get("limiter")
        if isinstance(limiter, Limiter):
            return limiter
    raise AssertionError(f"no rate-limit middleware ({EXTRAS_KEY})")


def test_expired_buckets_are_purged(identity_limited: tuple[TestClient, Any], clock: FrozenClock) -> None:
    from tessera.ratelimit.backends import purge_expired

    client, app = identity_limited
    ua_login(client, "someone", "wrong")
    now_ms = int(clock.now().timestamp() * 1000)
    with session_of(app) as session, session.begin():
        assert purge_expired(session, now_ms) == 0
        assert purge_expired(session, now_ms + 60_001) == 1
        assert session.scalar(select(func.count()).select_from(RateLimitBucket)) == 0
