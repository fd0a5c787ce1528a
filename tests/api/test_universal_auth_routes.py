"""Universal Auth over HTTP: config, client secrets, login, lockout, uniform failures, trusted IPs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tessera.app import create_app
from tessera.auth.universal.models import IdentityUAClientSecret
from tessera.clock import FrozenClock
from tests.conftest import Admin, make_settings
from tests.factories_auth import (
    LOGIN_KEYS,
    UA,
    all_at_once,
    attach_ua,
    audit_ids,
    bearer,
    client_at,
    comparable,
    create_client_secret,
    create_identity,
    create_org,
    failure_reason,
    new_failures,
    serve,
    session_of,
    token_auth_token,
    token_row,
    token_rows,
    ua_identity,
    ua_login,
    update_identity,
    use_token,
)

# Bootstrapping an admin hashes a password; these tests are about tokens, not hashing.
pytestmark = pytest.mark.usefixtures("fast_passwords")

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _token_id(access_token: str) -> str:
    claims = jwt.decode(access_token, options={"verify_signature": False})
    return str(claims["identityAccessTokenId"])


def _wrong(secret: str) -> str:
    """The secret with its last character changed."""
    return secret[:-1] + ("0" if secret[-1] != "0" else "1")


# --- configuration --------------------------------------------------------------------------------


def test_attach_get_update_revoke(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id = create_identity(app, admin.org_id)
    config = attach_ua(client, admin, identity_id)
    assert UUID4.match(config["clientId"])
    assert config["identityId"] == identity_id
    assert config["accessTokenTTL"] == 2_592_000
    assert config["accessTokenMaxTTL"] == 2_592_000
    assert config["accessTokenNumUsesLimit"] == 0
    assert config["lockoutEnabled"] is True
    assert (
        config["lockoutThreshold"],
        config["lockoutDurationSeconds"],
        config["lockoutCounterResetSeconds"],
    ) == (
        3,
        300,
        30,
    )
    assert {e["ipAddress"] for e in config["clientSecretTrustedIps"]} == {"0.0.0.0", "::"}

    again = client.post(f"{UA}/identities/{identity_id}", json={}, headers=admin.headers)
    assert again.status_code == 400

    fetched = client.get(f"{UA}/identities/{identity_id}", headers=admin.headers).json()
    assert fetched["identityUniversalAuth"]["clientId"] == config["clientId"]

    patched = client.patch(
        f"{UA}/identities/{identity_id}",
        json={
            "accessTokenTTL": 60,
            "lockoutThreshold": 5,
            "clientSecretTrustedIps": [{"ipAddress": "10.0.0.0/8"}],
        },
        headers=admin.headers,
    ).json()["identityUniversalAuth"]
    assert patched["accessTokenTTL"] == 60
    assert patched["accessTokenMaxTTL"] == 2_592_000
    assert patched["lockoutThreshold"] == 5
    assert patched["clientSecretTrustedIps"] == [{"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8}]
    assert patched["clientId"] == config["clientId"]

    deleted = client.delete(f"{UA}/identities/{identity_id}", headers=admin.headers)
    assert deleted.status_code == 200
    assert client.get(f"{UA}/identities/{identity_id}", headers=admin.headers).status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accessTokenTTL": 100, "accessTokenMaxTTL": 10}, None),
        ({"accessTokenTTL": -1}, "accessTokenTTL"),
        ({"accessTokenTTL": 1.5}, "accessTokenTTL"),
        ({"accessTokenNumUsesLimit": -1}, "accessTokenNumUsesLimit"),
        ({"accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/33"}]}, "accessTokenTrustedIps"),
        ({"accessTokenTrustedIps": []}, "accessTokenTrustedIps"),
        ({"clientSecretTrustedIps": [{"ipAddress": "not-an-ip"}]}, "clientSecretTrustedIps"),
        ({"lockoutThreshold": 0}, "lockoutThreshold"),
        ({"lockoutThreshold": 31}, "lockoutThreshold"),
        ({"lockoutDurationSeconds": 29}, "lockoutDurationSeconds"),
        ({"lockoutDurationSeconds": 86_401}, "lockoutDurationSeconds"),
        ({"lockoutCounterResetSeconds": 4}, "lockoutCounterResetSeconds"),
        ({"lockoutCounterResetSeconds": 3_601}, "lockoutCounterResetSeconds"),
    ],
    ids=[
        "ttl-above-max",
        "negative-ttl",
        "float-ttl",
        "negative-uses",
        "bad-cidr",
        "no-trusted-ips",
        "bad-login-ip",
        "threshold-0",
        "threshold-31",
        "duration-29",
        "duration-86401",
        "reset-4",
        "reset-3601",
    ],
)
def test_attach_rejects_bad_values_with_422(
    client: TestClient, app: Any, admin: Admin, body: dict[str, Any], field: str | None
) -> None:
    identity_id = create_identity(app, admin.org_id)
    response = client.post(f"{UA}/identities/{identity_id}", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    if field is not None:
        assert any(field in issue["path"] for issue in response.json()["message"])
    assert client.get(f"{UA}/identities/{identity_id}", headers=admin.headers).status_code == 400


def test_update_rejects_ttl_above_stored_max(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id = create_identity(app, admin.org_id)
    attach_ua(client, admin, identity_id, accessTokenTTL=100, accessTokenMaxTTL=200)
    response = client.patch(
        f"{UA}/identities/{identity_id}", json={"accessTokenTTL": 300}, headers=admin.headers
    )
    assert response.status_code == 422
    assert response.json()["message"][0]["path"] == ["accessTokenTTL"]


def test_management_needs_permission_and_the_same_org(client: TestClient, app: Any, admin: Admin) -> None:
    target = create_identity(app, admin.org_id)
    # A caller whose org role grants nothing on identities.
    weak_id, weak_token, _ = token_auth_token(
        client, app, admin, identity_id=create_identity(app, admin.org_id, role="no-access")
    )
    response = client.post(f"{UA}/identities/{target}", json={}, headers=bearer(weak_token))
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionDenied"

    foreign = create_identity(app, create_org(app))
    assert client.post(f"{UA}/identities/{foreign}", json={}, headers=admin.headers).status_code == 404
    assert client.post(f"{UA}/identities/{uuid.uuid4()}", json={}, headers=admin.headers).status_code == 404
    assert weak_id


def test_member_cannot_take_over_a_more_privileged_identity(
    client: TestClient, app: Any, admin: Admin
) -> None:
    """Org members may manage identities, but not one holding permissions they lack."""
    member_id, member_token, _ = token_auth_token(
        client, app, admin, identity_id=create_identity(app, admin.org_id, role="member")
    )
    stronger = create_identity(app, admin.org_id, role="admin")
    weaker = create_identity(app, admin.org_id, role="no-access")

    response = client.post(f"{UA}/identities/{stronger}", json={}, headers=bearer(member_token))
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionBoundaryError"
    assert client.get(f"{UA}/identities/{stronger}", headers=admin.headers).status_code == 400

    assert client.post(f"{UA}/identities/{weaker}", json={}, headers=bearer(member_token)).status_code == 200
    assert member_id


# --- client secrets -------------------------------------------------------------------------------


def test_client_secret_is_shown_once_and_stored_only_as_a_keyed_hash(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id = create_identity(app, admin.org_id)
    attach_ua(client, admin, identity_id)
    secret, data = create_client_secret(client, admin, identity_id, description="ci", numUsesLimit=3, ttl=600)
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert data["clientSecretPrefix"] == secret[:4]
    assert data["description"] == "ci"
    assert (data["clientSecretNumUses"], data["clientSecretNumUsesLimit"], data["clientSecretTTL"]) == (
        0,
        3,
        600,
    )
    assert data["isClientSecretRevoked"] is False

    listing = client.get(f"{UA}/identities/{identity_id}/client-secrets", headers=admin.headers)
    single = client.get(f"{UA}/identities/{identity_id}/client-secrets/{data['id']}", headers=admin.headers)
    for response in (listing, single):
        assert response.status_code == 200
        assert secret not in response.text
        assert secret[4:20] not in response.text
    assert [item["id"] for item in listing.json()["clientSecretData"]] == [data["id"]]

    with session_of(app) as session:
        row = session.scalar(select(IdentityUAClientSecret).where(IdentityUAClientSecret.id == data["id"]))
        assert row is not None
        assert secret not in (row.secret_hash, row.description)
        assert len(row.secret_hash) == 64
    assert row.secret_hash not in listing.text


def test_client_secret_of_another_identity_is_not_found(client: TestClient, app: Any, admin: Admin) -> None:
    first, _, _ = ua_identity(client, app, admin)
    second = create_identity(app, admin.org_id)
    attach_ua(client, admin, second)
    _, data = create_client_secret(client, admin, first)
    assert (
        client.get(f"{UA}/identities/{second}/client-secrets/{data['id']}", headers=admin.headers).status_code
        == 404
    )
    revoke = client.post(
        f"{UA}/identities/{second}/client-secrets/{data['id']}/revoke", headers=admin.headers
    )
    assert revoke.status_code == 404


# --- login ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["json", "form", "trailing-slash"])
def test_login_returns_exactly_the_login_response(
    client: TestClient, app: Any, admin: Admin, shape: str
) -> None:
    identity_id, client_id, secret = ua_identity(
        client, app, admin, accessTokenTTL=120, accessTokenMaxTTL=600
    )
    body = {"clientId": client_id, "clientSecret": secret}
    if shape == "json":
        response = client.post(f"{UA}/login", json=body)
    elif shape == "form":
        response = client.post(f"{UA}/login", data=body)
    else:
        response = client.post(f"{UA}/login/", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert set(payload) == LOGIN_KEYS
    assert (payload["expiresIn"], payload["accessTokenMaxTTL"], payload["tokenType"]) == (120, 600, "Bearer")
    assert use_token(client, payload["accessToken"], identity_id).status_code == 200
    row = token_row(app, _token_id(payload["accessToken"]))
    assert row.auth_method == "universal-auth"
    assert row.client_secret_id is not None


def _wrong_secret(ctx: dict[str, Any]) -> tuple[str, str]:
    return ctx["client_id"], _wrong(ctx["secret"])


def _scenario_unknown_client(ctx: dict[str, Any]) -> tuple[str, str]:
    return str(uuid.uuid4()), ctx["secret"]


def _scenario_revoked(ctx: dict[str, Any]) -> tuple[str, str]:
    c, admin = ctx["client"], ctx["admin"]
    response = c.post(
        f"{UA}/identities/{ctx['identity_id']}/client-secrets/{ctx['secret_id']}/revoke",
        headers=admin.headers,
    )
    assert response.status_code == 200
    return ctx["client_id"], ctx["secret"]


def _scenario_expired_secret(ctx: dict[str, Any]) -> tuple[str, str]:
    secret, _ = create_client_secret(ctx["client"], ctx["admin"], ctx["identity_id"], ttl=60)
    ctx["clock"].advance(61)
    return ctx["client_id"], secret


def _scenario_exhausted(ctx: dict[str, Any]) -> tuple[str, str]:
    secret, _ = create_client_secret(ctx["client"], ctx["admin"], ctx["identity_id"], numUsesLimit=1)
    assert ua_login(ctx["client"], ctx["client_id"], secret).status_code == 200
    return ctx["client_id"], secret


def _scenario_locked(ctx: dict[str, Any]) -> tuple[str, str]:
    for _ in range(3):
        assert ua_login(ctx["client"], *_wrong_secret(ctx)).status_code == 401
    return ctx["client_id"], ctx["secret"]


def _scenario_disabled(ctx: dict[str, Any]) -> tuple[str, str]:
    update_identity(ctx["app"], ctx["identity_id"], is_active=False)
    return ctx["client_id"], ctx["secret"]


def _scenario_expired_identity(ctx: dict[str, Any]) -> tuple[str, str]:
    update_identity(ctx["app"], ctx["identity_id"], expires_at=ctx["clock"].now())
    return ctx["client_id"], ctx["secret"]


def _scenario_login_ip(ctx: dict[str, Any]) -> tuple[str, str]:
    body = {"clientSecretTrustedIps": [{"ipAddress": "10.9.9.9/32"}]}
    assert (
        ctx["client"]
        .patch(f"{UA}/identities/{ctx['identity_id']}", json=body, headers=ctx["admin"].headers)
        .status_code
        == 200
    )
    return ctx["client_id"], ctx["secret"]


def _scenario_token_ip(ctx: dict[str, Any]) -> tuple[str, str]:
    body = {"accessTokenTrustedIps": [{"ipAddress": "10.9.9.9/32"}]}
    assert (
        ctx["client"]
        .patch(f"{UA}/identities/{ctx['identity_id']}", json=body, headers=ctx["admin"].headers)
        .status_code
        == 200
    )
    return ctx["client_id"], ctx["secret"]


def _scenario_removed_method(ctx: dict[str, Any]) -> tuple[str, str]:
    assert (
        ctx["client"]
        .delete(f"{UA}/identities/{ctx['identity_id']}", headers=ctx["admin"].headers)
        .status_code
        == 200
    )
    return ctx["client_id"], ctx["secret"]


FAILURES: list[tuple[str, Callable[[dict[str, Any]], tuple[str, str]], str]] = [
    ("unknown-client-id", _scenario_unknown_client, "client_id_not_found"),
    ("wrong-secret", _wrong_secret, "invalid_client_secret"),
    ("revoked-secret", _scenario_revoked, "client_secret_revoked"),
    ("expired-secret", _scenario_expired_secret, "client_secret_expired"),
    ("exhausted-secret", _scenario_exhausted, "client_secret_uses_exhausted"),
    ("locked-out", _scenario_locked, "locked_out"),
    ("disabled-identity", _scenario_disabled, "identity_disabled"),
    ("expired-identity", _scenario_expired_identity, "identity_expired"),
    ("login-ip-not-trusted", _scenario_login_ip, "client_ip_not_trusted"),
    ("token-ip-not-trusted", _scenario_token_ip, "ip_not_trusted"),
    ("method-removed", _scenario_removed_method, "client_id_not_found"),
]


@pytest.mark.parametrize(
    ("scenario", "reason"), [(f[1], f[2]) for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_every_login_failure_looks_the_same_and_the_audit_says_why(
    client: TestClient,
    app: Any,
    admin: Admin,
    clock: FrozenClock,
    scenario: Callable[[dict[str, Any]], tuple[str, str]],
    reason: str,
) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin)
    secret_id = client.get(f"{UA}/identities/{identity_id}/client-secrets", headers=admin.headers).json()[
        "clientSecretData"
    ][0]["id"]
    ctx = {
        "client": client,
        "app": app,
        "admin": admin,
        "clock": clock,
        "identity_id": identity_id,
        "client_id": client_id,
        "secret": secret,
        "secret_id": secret_id,
    }
    reference = ua_login(client, str(uuid.uuid4()), "f" * 64)
    credentials = scenario(ctx)
    tokens_before = len(token_rows(app, identity_id))

    response, audited = failure_reason(app, lambda: ua_login(client, *credentials))

    assert comparable(response) == comparable(reference)
    assert comparable(response) == (
        401,
        {"statusCode": 401, "message": "Invalid credentials", "error": "UnauthorizedError"},
    )
    assert audited == reason
    assert len(token_rows(app, identity_id)) == tokens_before


def test_failed_login_audit_records_ip_and_identity_but_no_secret(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin)
    seen = audit_ids(app)
    assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    (event,) = new_failures(app, seen)
    assert (event.identity_id, event.ip, event.auth_method) == (identity_id, "127.0.0.1", "universal-auth")
    assert secret not in str(event.details)
    assert _wrong(secret) not in str(event.details)


# --- lockout --------------------------------------------------------------------------------------


def test_lockout_after_three_failures_then_unlocks(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    _, client_id, secret = ua_identity(client, app, admin)
    for _ in range(3):
        assert ua_login(client, client_id, _wrong(secret)).status_code == 401
        clock.advance(5)
    # Locked: the right secret is refused without being looked at.
    response, reason = failure_reason(app, lambda: ua_login(client, client_id, secret))
    assert (response.status_code, reason) == (401, "locked_out")
    # The lock began with the third failure (t=10) and lasts 300 s; the clock is now at t=15.
    clock.advance(300 - 5 - 1)
    assert ua_login(client, client_id, secret).status_code == 401
    clock.advance(2)
    assert ua_login(client, client_id, secret).status_code == 200


def test_failures_outside_the_reset_window_do_not_lock(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    _, client_id, secret = ua_identity(client, app, admin)
    for _ in range(2):
        assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    clock.advance(31)
    for _ in range(2):
        assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    assert ua_login(client, client_id, secret).status_code == 200


def test_success_resets_the_failure_count(client: TestClient, app: Any, admin: Admin) -> None:
    _, client_id, secret = ua_identity(client, app, admin)
    for _ in range(2):
        assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    assert ua_login(client, client_id, secret).status_code == 200
    for _ in range(2):
        assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    assert ua_login(client, client_id, secret).status_code == 200


def test_lockout_settings_are_honoured(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    _, client_id, secret = ua_identity(client, app, admin, lockoutThreshold=1, lockoutDurationSeconds=60)
    assert ua_login(client, client_id, _wrong(secret)).status_code == 401
    assert ua_login(client, client_id, secret).status_code == 401
    clock.advance(61)
    assert ua_login(client, client_id, secret).status_code == 200

    _, other_id, other_secret = ua_identity(client, app, admin, lockoutEnabled=False)
    for _ in range(10):
        assert ua_login(client, other_id, _wrong(other_secret)).status_code == 401
    assert ua_login(client, other_id, other_secret).status_code == 200


def test_lockout_is_per_client_not_per_address(client: TestClient, app: Any, admin: Admin) -> None:
    """Rotating source addresses or forwarding headers does not escape the lockout."""
    _, client_id, secret = ua_identity(client, app, admin)
    for index in range(3):
        other = client_at(app, f"10.7.0.{index + 1}")
        assert (
            ua_login(
                other, client_id, _wrong(secret), headers={"X-Forwarded-For": f"192.0.2.{index}"}
            ).status_code
            == 401
        )
    response, reason = failure_reason(app, lambda: ua_login(client_at(app, "10.7.0.99"), client_id, secret))
    assert (response.status_code, reason) == (401, "locked_out")


def test_clear_lockouts(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin)
    for _ in range(3):
        ua_login(client, client_id, _wrong(secret))
    assert ua_login(client, client_id, secret).status_code == 401
    cleared = client.post(f"{UA}/identities/{identity_id}/clear-lockouts", headers=admin.headers)
    assert cleared.json() == {"deleted": 1}
    assert ua_login(client, client_id, secret).status_code == 200


def test_identifier_variants_do_not_reach_the_client(client: TestClient, app: Any, admin: Admin) -> None:
    _, client_id, secret = ua_identity(client, app, admin)
    for variant in (f" {client_id}", f"{client_id} ", client_id.upper(), client_id + "\u200b"):
        response, reason = failure_reason(app, lambda v=variant: ua_login(client, v, secret))  # type: ignore[misc]
        assert (response.status_code, reason) == (401, "client_id_not_found")


# --- client secret limits -------------------------------------------------------------------------


def test_client_secret_use_limit_and_exhaustion(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin, secret={"numUsesLimit": 2})
    tokens = [ua_login(client, client_id, secret).json()["accessToken"] for _ in range(2)]
    response, reason = failure_reason(app, lambda: ua_login(client, client_id, secret))
    assert (response.status_code, reason) == (401, "client_secret_uses_exhausted")
    data = client.get(f"{UA}/identities/{identity_id}/client-secrets", headers=admin.headers).json()
    assert data["clientSecretData"] == []  # exhaustion revoked it
    # Exhaustion retires the secret but does not take back the tokens it legitimately minted.
    for token in tokens:
        assert use_token(client, token, identity_id).status_code == 200


def test_client_secret_ttl(client: TestClient, app: Any, admin: Admin, clock: FrozenClock) -> None:
    _, client_id, secret = ua_identity(client, app, admin, secret={"ttl": 60})
    clock.advance(59)
    assert ua_login(client, client_id, secret).status_code == 200
    clock.advance(2)
    response, reason = failure_reason(app, lambda: ua_login(client, client_id, secret))
    assert (response.status_code, reason) == (401, "client_secret_expired")


def test_revoking_a_client_secret_revokes_its_tokens_only(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, client_id, first = ua_identity(client, app, admin)
    second, second_data = create_client_secret(client, admin, identity_id)
    first_id = client.get(f"{UA}/identities/{identity_id}/client-secrets", headers=admin.headers).json()[
        "clientSecretData"
    ]
    first_id = next(item["id"] for item in first_id if item["id"] != second_data["id"])
    token_a = ua_login(client, client_id, first).json()["accessToken"]
    token_b = ua_login(client, client_id, second).json()["accessToken"]

    revoked = client.post(
        f"{UA}/identities/{identity_id}/client-secrets/{first_id}/revoke", headers=admin.headers
    )
    assert revoked.json()["clientSecretData"]["isClientSecretRevoked"] is True

    assert use_token(client, token_a, identity_id).status_code == 401
    assert use_token(client, token_b, identity_id).status_code == 200
    assert ua_login(client, client_id, first).status_code == 401


def test_removing_universal_auth_revokes_its_tokens_but_not_other_methods(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin)
    ua_token = ua_login(client, client_id, secret).json()["accessToken"]
    _, other_token, _ = token_auth_token(client, app, admin, identity_id=identity_id)
    assert client.delete(f"{UA}/identities/{identity_id}", headers=admin.headers).status_code == 200
    assert use_token(client, ua_token, identity_id).status_code == 401
    assert use_token(client, other_token, identity_id).status_code == 200
    assert ua_login(client, client_id, secret).status_code == 401


# --- addresses ------------------------------------------------------------------------------------


def test_login_ip_restriction_consumes_no_use(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, client_id, secret = ua_identity(
        client,
        app,
        admin,
        clientSecretTrustedIps=[{"ipAddress": "10.1.2.3/32"}],
        secret={"numUsesLimit": 1},
    )
    assert ua_login(client_at(app, "10.1.2.4"), client_id, secret).status_code == 401
    data = client.get(f"{UA}/identities/{identity_id}/client-secrets", headers=admin.headers).json()
    assert data["clientSecretData"][0]["clientSecretNumUses"] == 0
    assert ua_login(client_at(app, "10.1.2.3"), client_id, secret).status_code == 200


def test_spoofed_forwarded_for_is_ignored_without_a_trusted_proxy(
    client: TestClient, app: Any, admin: Admin
) -> None:
    _, client_id, secret = ua_identity(
        client, app, admin, clientSecretTrustedIps=[{"ipAddress": "192.0.2.7/32"}]
    )
    seen = audit_ids(app)
    response = ua_login(
        client_at(app, "10.0.0.10"), client_id, secret, headers={"X-Forwarded-For": "192.0.2.7"}
    )
    assert response.status_code == 401
    assert [event.ip for event in new_failures(app, seen)] == ["10.0.0.10"]


def test_forwarded_for_from_a_trusted_proxy_is_used(
    tmp_path: Path, db_url: str, engine: Engine, clock: FrozenClock
) -> None:
    settings = make_settings(db_url, tmp_path / "data", trusted_proxies=["10.0.0.9/32"])
    app: Any = create_app(settings, clock=clock, engine=engine)
    with TestClient(app, client=("10.0.0.9", 1234), raise_server_exceptions=False) as proxy:
        admin_body = proxy.post(
            "/api/v1/admin/bootstrap",
            json={"email": "a@example.com", "password": "correct horse battery", "organization": "Acme"},
        ).json()
        admin = Admin(
            token=admin_body["identity"]["credentials"]["token"],
            org_id=admin_body["organization"]["id"],
            identity_id=admin_body["identity"]["id"],
            user_id=admin_body["user"]["id"],
        )
        _, client_id, secret = ua_identity(
            proxy,
            app,
            admin,
            clientSecretTrustedIps=[{"ipAddress": "192.0.2.7/32"}],
            secret={"numUsesLimit": 5},
        )
        assert ua_login(proxy, client_id, secret, headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 200
        # A client-prepended hop does not help: the right-most untrusted hop is the client.
        seen = audit_ids(app)
        spoofed = ua_login(proxy, client_id, secret, headers={"X-Forwarded-For": "192.0.2.7, 198.51.100.1"})
        assert spoofed.status_code == 401
        assert [e.ip for e in new_failures(app, seen)] == ["198.51.100.1"]
    untrusted = client_at(app, "10.0.0.10")
    assert ua_login(untrusted, client_id, secret, headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 401


def test_trusted_ip_change_applies_to_existing_tokens(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin)
    token = ua_login(client, client_id, secret).json()["accessToken"]
    assert use_token(client, token, identity_id).status_code == 200
    body = {"accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/8"}]}
    assert client.patch(f"{UA}/identities/{identity_id}", json=body, headers=admin.headers).status_code == 200
    assert use_token(client, token, identity_id).status_code == 403
    assert use_token(client_at(app, "10.3.3.3"), token, identity_id).status_code == 200


def test_expired_identity_cannot_log_in_and_its_tokens_stop(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin)
    update_identity(app, identity_id, expires_at=clock.now() + timedelta(seconds=60))
    token = ua_login(client, client_id, secret).json()["accessToken"]
    assert use_token(client, token, identity_id).status_code == 200
    clock.advance(61)
    assert use_token(client, token, identity_id).status_code == 401
    response, reason = failure_reason(app, lambda: ua_login(client, client_id, secret))
    assert (response.status_code, reason) == (401, "identity_expired")


# --- concurrency ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_client_secret_use_limit_is_exact_under_50_concurrent_logins(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin, secret={"numUsesLimit": 5})
    with (
        serve(app) as base,
        httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=60)) as http,
    ):
        responses = all_at_once(
            50, lambda _i: http.post(f"{UA}/login", json={"clientId": client_id, "clientSecret": secret})
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [401] * 45
    tokens = {r.json()["accessToken"] for r in responses if r.status_code == 200}
    assert len(tokens) == 5
    with session_of(app) as session:
        row = session.scalar(select(IdentityUAClientSecret))
        assert row is not None
        assert (row.num_uses, row.is_revoked) == (5, True)
    assert ua_login(client, client_id, secret).status_code == 401
    assert identity_id
