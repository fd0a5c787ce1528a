"""Refresh-token credentials over HTTP: exchange, rotation, reuse detection, usage, expiration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.auth.refresh.models import IdentityRefreshToken
from tessera.clock import FrozenClock, iso_js
from tests.conftest import Admin
from tests.factories_auth import (
    LOGIN_KEYS,
    REFRESH,
    all_at_once,
    audit_events,
    audit_ids,
    client_at,
    comparable,
    create_identity,
    failure_reason,
    new_failures,
    serve,
    session_of,
    token_rows,
    update_identity,
    use_token,
)

# Bootstrapping an admin hashes a password; these tests are about tokens, not hashing.
pytestmark = pytest.mark.usefixtures("fast_passwords")

LOGIN = f"{REFRESH}/login"


def _attach(client: TestClient, app: Any, admin: Admin, **body: Any) -> tuple[str, str, dict[str, Any]]:
    identity_id = create_identity(app, admin.org_id)
    response = client.post(f"{REFRESH}/identities/{identity_id}", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    return identity_id, data["refreshToken"], data["identityRefreshTokenAuth"]


def _exchange(client: TestClient, refresh_token: str) -> Any:
    return client.post(LOGIN, json={"refreshToken": refresh_token})


def test_attach_returns_the_refresh_token_once(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, refresh_token, config = _attach(client, app, admin, accessTokenTTL=300)
    assert config["refreshTokenRotationEnabled"] is False
    assert (config["expiresAt"], config["tokenVersion"], config["refreshTokenUsageCount"]) == (None, 1, 0)
    assert config["accessTokenTTL"] == 300
    fetched = client.get(f"{REFRESH}/identities/{identity_id}", headers=admin.headers)
    assert fetched.status_code == 200
    assert refresh_token not in fetched.text
    assert refresh_token.split(".")[1] not in fetched.text
    with session_of(app) as session:
        row = session.scalar(select(IdentityRefreshToken))
        assert row is not None
        assert refresh_token.split(".")[1] != row.secret_hash
    again = client.post(f"{REFRESH}/identities/{identity_id}", json={}, headers=admin.headers)
    assert again.status_code == 400


@pytest.mark.parametrize("shape", ["json", "form", "alias-path", "trailing-slash"])
def test_exchange_without_rotation(client: TestClient, app: Any, admin: Admin, shape: str) -> None:
    identity_id, refresh_token, _ = _attach(client, app, admin, accessTokenTTL=120, accessTokenMaxTTL=600)
    body = {"refreshToken": refresh_token}
    routes = {
        "json": lambda: client.post(LOGIN, json=body),
        "form": lambda: client.post(LOGIN, data=body),
        "alias-path": lambda: client.post("/api/v1/auth/refresh-token/login", json=body),
        "trailing-slash": lambda: client.post(LOGIN + "/", json=body),
    }
    response = routes[shape]()
    assert response.status_code == 200, response.text
    assert set(response.json()) == LOGIN_KEYS
    assert (response.json()["expiresIn"], response.json()["accessTokenMaxTTL"]) == (120, 600)
    # Without rotation the same refresh token keeps working.
    assert _exchange(client, refresh_token).status_code == 200
    assert use_token(client, response.json()["accessToken"], identity_id).status_code == 200


def test_usage_counts_and_last_used_times(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    identity_id, refresh_token, _ = _attach(client, app, admin)
    first = _exchange(client, refresh_token).json()["accessToken"]
    clock.advance(10)
    second = _exchange(client, refresh_token).json()["accessToken"]
    for token in (first, second, second):
        assert use_token(client, token, identity_id).status_code == 200
    clock.advance(5)
    assert use_token(client, first, identity_id).status_code == 200
    config = client.get(f"{REFRESH}/identities/{identity_id}", headers=admin.headers).json()[
        "identityRefreshTokenAuth"
    ]
    assert config["refreshTokenUsageCount"] == 2
    assert config["refreshTokenLastUsedAt"] == iso_js(clock.now() - timedelta(seconds=5))
    # Four authenticated requests, plus the GET just made with the admin's own token (not counted).
    assert config["accessTokenUsageCount"] == 4
    assert config["accessTokenLastUsedAt"] == iso_js(clock.now())


def test_rotation_and_reuse_detection(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, original, _ = _attach(client, app, admin, refreshTokenRotationEnabled=True)
    first = _exchange(client, original)
    assert first.status_code == 200
    assert set(first.json()) == LOGIN_KEYS | {"refreshToken"}
    successor = first.json()["refreshToken"]
    assert successor != original
    second = _exchange(client, successor)
    assert second.status_code == 200
    latest = second.json()["refreshToken"]
    live_access = second.json()["accessToken"]
    assert use_token(client, live_access, identity_id).status_code == 200

    # The original was rotated out: presenting it again is reuse.
    seen = audit_ids(app)
    reused = _exchange(client, original)
    assert [f.reason for f in new_failures(app, seen)] == ["refresh_token_reused"]
    reuse_events = [e for e in audit_events(app, event="refresh_token_reuse") if e.id not in seen]
    assert [e.identity_id for e in reuse_events] == [identity_id]
    assert comparable(reused) == comparable(_exchange(client, "nonsense"))

    # The whole family is dead: the newest refresh token and every access token it minted.
    assert _exchange(client, latest).status_code == 401
    assert use_token(client, live_access, identity_id).status_code == 401
    assert all(row.is_revoked for row in token_rows(app, identity_id))
    config = client.get(f"{REFRESH}/identities/{identity_id}", headers=admin.headers).json()
    assert config["identityRefreshTokenAuth"]["tokenVersion"] == 3


def test_reissue_replaces_the_refresh_token(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, old, _ = _attach(client, app, admin)
    reissued = client.post(f"{REFRESH}/identities/{identity_id}/refresh-token", headers=admin.headers)
    assert reissued.status_code == 200
    new = reissued.json()["refreshToken"]
    response, reason = failure_reason(app, lambda: _exchange(client, old))
    assert (response.status_code, reason) == (401, "refresh_token_revoked")
    assert _exchange(client, new).status_code == 200


def _scenario_malformed(ctx: dict[str, Any]) -> str:
    return "not-a-refresh-token"


def _scenario_unknown(ctx: dict[str, Any]) -> str:
    return "00000000-0000-4000-8000-000000000000." + "a" * 64


def _scenario_wrong_secret(ctx: dict[str, Any]) -> str:
    token_id, secret = ctx["token"].split(".")
    return f"{token_id}.{secret[:-1]}{'0' if secret[-1] != '0' else '1'}"


def _scenario_expired(ctx: dict[str, Any]) -> str:
    ctx["clock"].advance(61)
    return str(ctx["token"])


def _scenario_disabled(ctx: dict[str, Any]) -> str:
    update_identity(ctx["app"], ctx["identity_id"], is_active=False)
    return str(ctx["token"])


def _scenario_removed(ctx: dict[str, Any]) -> str:
    response = ctx["client"].delete(
        f"{REFRESH}/identities/{ctx['identity_id']}", headers=ctx["admin"].headers
    )
    assert response.status_code == 200
    return str(ctx["token"])


def _scenario_ip(ctx: dict[str, Any]) -> str:
    body = {"accessTokenTrustedIps": [{"ipAddress": "10.9.9.9/32"}]}
    response = ctx["client"].patch(
        f"{REFRESH}/identities/{ctx['identity_id']}", json=body, headers=ctx["admin"].headers
    )
    assert response.status_code == 200
    return str(ctx["token"])


FAILURES = [
    ("malformed", _scenario_malformed, "refresh_token_not_found"),
    ("unknown-id", _scenario_unknown, "refresh_token_not_found"),
    ("wrong-secret", _scenario_wrong_secret, "refresh_token_mismatch"),
    ("credential-expired", _scenario_expired, "credential_expired"),
    ("identity-disabled", _scenario_disabled, "identity_disabled"),
    ("method-removed", _scenario_removed, "refresh_token_not_found"),
    ("ip-not-trusted", _scenario_ip, "ip_not_trusted"),
]


@pytest.mark.parametrize(
    ("scenario", "reason"), [(f[1], f[2]) for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_exchange_failures_look_the_same(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock, scenario: Any, reason: str
) -> None:
    identity_id, refresh_token, _ = _attach(
        client, app, admin, expiresAt=iso_js(clock.now() + timedelta(seconds=60))
    )
    ctx = {
        "client": client,
        "app": app,
        "admin": admin,
        "clock": clock,
        "identity_id": identity_id,
        "token": refresh_token,
    }
    presented = scenario(ctx)
    response, audited = failure_reason(app, lambda: _exchange(client, presented))
    assert comparable(response) == (
        401,
        {"statusCode": 401, "message": "Invalid credentials", "error": "UnauthorizedError"},
    )
    assert audited == reason
    assert token_rows(app, identity_id) == []


def test_update_expiration_and_rotation(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    identity_id, refresh_token, _ = _attach(client, app, admin)
    path = f"{REFRESH}/identities/{identity_id}"
    past = client.patch(path, json={"expiresAt": iso_js(clock.now())}, headers=admin.headers)
    assert past.status_code == 422
    soon = iso_js(clock.now() + timedelta(seconds=30))
    patched = client.patch(
        path, json={"expiresAt": soon, "refreshTokenRotationEnabled": True}, headers=admin.headers
    )
    config = patched.json()["identityRefreshTokenAuth"]
    assert (config["expiresAt"], config["refreshTokenRotationEnabled"]) == (soon, True)
    assert "refreshToken" in _exchange(client, refresh_token).json()

    cleared = client.patch(path, json={"expiresAt": None}, headers=admin.headers)
    assert cleared.json()["identityRefreshTokenAuth"]["expiresAt"] is None
    unchanged = client.patch(path, json={"accessTokenTTL": 100}, headers=admin.headers)
    assert unchanged.json()["identityRefreshTokenAuth"]["expiresAt"] is None


def test_removing_the_credential_revokes_its_access_tokens(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id, refresh_token, _ = _attach(client, app, admin)
    access = _exchange(client, refresh_token).json()["accessToken"]
    assert client.delete(f"{REFRESH}/identities/{identity_id}", headers=admin.headers).status_code == 200
    assert use_token(client, access, identity_id).status_code == 401


def test_access_tokens_follow_the_credential_policy(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, refresh_token, _ = _attach(
        client, app, admin, accessTokenNumUsesLimit=1, accessTokenTrustedIps=[{"ipAddress": "10.1.0.0/16"}]
    )
    inside = client_at(app, "10.1.2.3")
    access = _exchange(inside, refresh_token).json()["accessToken"]
    assert use_token(client_at(app, "10.2.0.1"), access, identity_id).status_code == 403
    assert use_token(inside, access, identity_id).status_code == 200
    assert use_token(inside, access, identity_id).status_code == 401


@pytest.mark.slow
def test_concurrent_exchanges_of_one_refresh_token_cannot_both_succeed(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id, refresh_token, _ = _attach(client, app, admin, refreshTokenRotationEnabled=True)
    with serve(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        responses = all_at_once(10, lambda _i: http.post(LOGIN, json={"refreshToken": refresh_token}))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 9
    # The same token was presented more than once: that is reuse, so the family is revoked too.
    winner = next(r for r in responses if r.status_code == 200).json()
    assert _exchange(client, winner["refreshToken"]).status_code == 401
    assert use_token(client, winner["accessToken"], identity_id).status_code == 401
    assert audit_events(app, event="refresh_token_reuse")
