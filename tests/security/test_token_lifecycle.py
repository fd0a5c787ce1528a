"""Catalogue §2.3, Token Auth and the token lifecycle (TK-1 … TK-18), on SQLite and PostgreSQL.

Wire rules (Infisical's, docs/infisical-wire): a bearer JWT that fails its signature or `exp` is
403 TokenError; a correctly signed token whose row is revoked, deleted, exhausted or past its TTL
is 401. TTL 0 means "no expiry" and the max TTL bounds renewals, exactly as Infisical clients
expect; the catalogue's "cap TTL 0" recommendation is a documented difference (README).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from tessera.app import create_app
from tessera.crypto.access_tokens import encode_access_token
from tessera.identities.models import IdentityAccessToken
from tests.conftest import CLIENT_ADDR, Admin
from tests.factories_auth import (
    TOKEN_AUTH,
    all_at_once,
    bearer,
    client_at,
    create_identity,
    serve,
    session_of,
    token_auth_token,
    token_row,
    ua_identity,
    ua_login,
    use_token,
)
from tests.rbac_helpers import add_identity
from tests.security.support import count_rows, same_answer

RENEW = "/api/v1/auth/token/renew"
REVOKE = "/api/v1/auth/token/revoke"


def renew(client: TestClient, token: str) -> Any:
    return client.post(RENEW, json={"accessToken": token})


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_tk_1_expired_access_token(client: TestClient, app: Any, admin: Admin, clock: Any) -> None:
    identity_id, token, _ = token_auth_token(client, app, admin, accessTokenTTL=2, accessTokenMaxTTL=10)
    clock.advance(3)
    before = count_rows(app, IdentityAccessToken)
    used = use_token(client, token, identity_id)
    assert (used.status_code, used.json()["error"]) == (403, "TokenError")
    assert renew(client, token).status_code == 403
    assert count_rows(app, IdentityAccessToken) == before


def test_tk_2_renew_within_max_ttl(client: TestClient, app: Any, admin: Admin, clock: Any) -> None:
    identity_id, token, token_id = token_auth_token(
        client, app, admin, accessTokenTTL=10, accessTokenMaxTTL=30
    )
    issued = int(clock.now().timestamp())
    clock.advance(5)
    response = renew(client, token)
    assert response.status_code == 200
    renewed = response.json()["accessToken"]
    assert claims_of(renewed)["exp"] == min(issued + 5 + 10, issued + 30)
    assert use_token(client, renewed, identity_id).status_code == 200
    del token_id


@pytest.mark.parametrize(
    ("last", "status"),
    [(29, 401), (29.9, 401), (30.5, 403)],
    ids=["max-minus-1", "max-minus-epsilon", "past-max"],
)
def test_tk_3_renew_never_extends_past_max_ttl(
    client: TestClient, app: Any, admin: Admin, clock: Any, last: float, status: int
) -> None:
    """CVE-2021-32923: renewing near the max TTL must never yield a longer or endless lifetime."""
    identity_id, token, token_id = token_auth_token(
        client, app, admin, accessTokenTTL=10, accessTokenMaxTTL=30
    )
    issued = int(clock.now().timestamp())
    elapsed = 0.0
    for at in (5, 14, 20):  # each renew restarts the TTL window, never past issued + 30
        clock.advance(at - elapsed)
        elapsed = at
        response = renew(client, token)
        assert response.status_code == 200
        token = response.json()["accessToken"]
        assert claims_of(token)["exp"] == min(issued + at + 10, issued + 30)
    clock.advance(last - elapsed)
    response = renew(client, token)
    assert response.status_code == status
    if status == 401:
        # A renew that would overrun the max TTL destroys the token, as Infisical does.
        assert token_row(app, token_id).is_revoked
    assert use_token(client, token, identity_id).status_code in {401, 403}


def test_tk_4_ttl_greater_than_max_ttl_is_refused(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id = create_identity(app, admin.org_id)
    response = client.post(
        f"{TOKEN_AUTH}/identities/{identity_id}",
        json={"accessTokenTTL": 100, "accessTokenMaxTTL": 10},
        headers=admin.headers,
    )
    assert response.status_code == 422
    got = client.get(f"{TOKEN_AUTH}/identities/{identity_id}", headers=admin.headers)
    assert got.status_code == 400  # not attached: no config row was written


def test_tk_5_ttl_zero_semantics_are_the_documented_ones(
    client: TestClient, app: Any, admin: Admin, clock: Any
) -> None:
    """TTL 0 = no `exp` (Infisical's rule); revocation, not time, ends such a token."""
    identity_id, token, token_id = token_auth_token(client, app, admin, accessTokenTTL=0, accessTokenMaxTTL=0)
    assert "exp" not in claims_of(token)
    clock.advance(10 * 365 * 86400)
    assert use_token(client, token, identity_id).status_code == 200
    assert client.post(REVOKE, json={"accessToken": token}).status_code == 200
    assert use_token(client, token, identity_id).status_code == 401
    # Out-of-range TTLs are refused rather than clamped into "forever".
    other = create_identity(app, admin.org_id)
    too_long = client.post(
        f"{TOKEN_AUTH}/identities/{other}", json={"accessTokenTTL": 315_360_001}, headers=admin.headers
    )
    assert too_long.status_code == 422
    del token_id


def test_tk_6_use_after_revoke(client: TestClient, app: Any, admin: Admin) -> None:
    """One process here; every replica at once is covered in tests/scaleout."""
    identity_id, token, _ = token_auth_token(client, app, admin)
    assert use_token(client, token, identity_id).status_code == 200
    assert client.post(REVOKE, json={"accessToken": token}).status_code == 200
    assert use_token(client, token, identity_id).status_code == 401
    with serve(app) as base:  # a second, real server over the same database agrees at once
        assert (
            httpx.get(f"{base}/api/v1/identities/{identity_id}/tokens", headers=bearer(token)).status_code
            == 401
        )


def test_tk_7_revoke_is_idempotent_and_no_oracle(client: TestClient, app: Any, admin: Admin) -> None:
    _, token, _ = token_auth_token(client, app, admin)
    first = client.post(REVOKE, json={"accessToken": token})
    second = client.post(REVOKE, json={"accessToken": token})
    assert first.status_code == 200
    # Revoking again answers exactly like a never-issued token id: nothing tells them apart.
    never_issued = encode_access_token(
        identity_id="x",
        token_id="00000000-0000-0000-0000-000000000000",
        secret=app.state.context.signing_secret,
        issued_at=_now(app),
        expires_at=None,
    )
    same_answer(second, client.post(REVOKE, json={"accessToken": never_issued}))
    assert second.status_code == 401
    # Garbage and tokens signed by anyone else are one and the same 403 TokenError.
    garbage = client.post(REVOKE, json={"accessToken": "random-string"})
    foreign_key = jwt.encode(
        claims_of(token), "another-key-of-sufficient-length-0123456789", algorithm="HS256"
    )
    assert garbage.status_code == 403
    same_answer(garbage, client.post(REVOKE, json={"accessToken": foreign_key}))
    # Revoking another identity's token by id needs the privilege; without it: 403, token intact.
    victim_id, victim_token, victim_token_id = token_auth_token(client, app, admin)
    outsider = add_identity(app, admin.org_id, role="no-access")
    refused = client.post(f"/api/v1/auth/token/{victim_token_id}/revoke", headers=outsider.headers)
    assert refused.status_code == 403
    assert use_token(client, victim_token, victim_id).status_code == 200


def _now(app: Any) -> Any:
    return app.state.context.clock.now()


def test_tk_8_use_after_identity_delete(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, first, _ = token_auth_token(client, app, admin)
    second = client.post(f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={}, headers=admin.headers)
    assert second.status_code == 200
    assert client.delete(f"/api/v1/identities/{identity_id}", headers=admin.headers).status_code == 200
    for token in (first, second.json()["accessToken"]):
        assert use_token(client, token, identity_id).status_code == 401
    assert count_rows(app, IdentityAccessToken, IdentityAccessToken.identity_id == identity_id) == 0


def test_tk_9_use_after_auth_method_removal(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin)
    ua_token = ua_login(client, client_id, secret).json()["accessToken"]
    _, other_token, _ = token_auth_token(client, app, admin, identity_id=identity_id)
    assert (
        client.delete(
            f"/api/v1/auth/universal-auth/identities/{identity_id}", headers=admin.headers
        ).status_code
        == 200
    )
    assert use_token(client, ua_token, identity_id).status_code == 401
    assert use_token(client, other_token, identity_id).status_code == 200


def test_tk_10_use_after_role_or_membership_change(
    client: TestClient, app: Any, admin: Admin, project: dict[str, Any]
) -> None:
    member = add_identity(app, admin.org_id, role="no-access")
    path = f"/api/v2/workspace/{project['id']}/identity-memberships/{member.identity_id}"
    assert client.post(path, json={"roles": [{"role": "viewer"}]}, headers=admin.headers).status_code == 200
    listing = {"workspaceId": project["id"], "environment": "dev", "secretPath": "/"}
    assert client.get("/api/v3/secrets/raw", params=listing, headers=member.headers).status_code == 200
    assert client.delete(path, headers=admin.headers).status_code == 200
    assert client.get("/api/v3/secrets/raw", params=listing, headers=member.headers).status_code == 403
    # An org-role downgrade applies on the next request too (no cached allow).
    org_admin = add_identity(app, admin.org_id, role="admin")
    assert (
        client.get(
            "/api/v1/identities", params={"orgId": admin.org_id}, headers=org_admin.headers
        ).status_code
        == 200
    )
    assert (
        client.patch(
            f"/api/v1/identities/{org_admin.identity_id}", json={"role": "no-access"}, headers=admin.headers
        ).status_code
        == 200
    )
    assert (
        client.get(
            "/api/v1/identities", params={"orgId": admin.org_id}, headers=org_admin.headers
        ).status_code
        == 403
    )


@pytest.mark.timeout(120)
def test_tk_11_num_uses_exact_under_concurrency(client: TestClient, app: Any, admin: Admin) -> None:
    for _ in range(2):
        identity_id, token, token_id = token_auth_token(client, app, admin, accessTokenNumUsesLimit=5)
        with serve(app) as base, httpx.Client(base_url=base, timeout=60, headers=bearer(token)) as http:
            statuses = all_at_once(
                50, lambda _i, h=http, i=identity_id: h.get(f"/api/v1/identities/{i}/tokens").status_code
            )
        assert sorted(statuses) == [200] * 5 + [401] * 45
        assert token_row(app, token_id).num_uses == 5


def test_tk_12_rejected_requests_consume_nothing(client: TestClient, app: Any, admin: Admin) -> None:
    """Infisical PR #6234: a request refused for its IP must not drain the token."""
    identity_id, token, token_id = token_auth_token(
        client,
        app,
        admin,
        accessTokenNumUsesLimit=3,
        accessTokenTrustedIps=[{"ipAddress": "127.0.0.2/32"}],
    )
    outside, inside = client_at(app, "127.0.0.3"), client_at(app, "127.0.0.2")
    assert [use_token(outside, token, identity_id).status_code for _ in range(10)] == [403] * 10
    assert token_row(app, token_id).num_uses == 0
    assert [use_token(inside, token, identity_id).status_code for _ in range(3)] == [200] * 3
    assert use_token(inside, token, identity_id).status_code == 401


def test_tk_13_which_operations_consume_a_use(client: TestClient, app: Any, admin: Admin) -> None:
    """The rule: every authenticated request consumes one use; renew (the token in the body) does not."""
    identity_id, token, token_id = token_auth_token(
        client, app, admin, accessTokenNumUsesLimit=2, accessTokenTTL=60
    )
    renewed = renew(client, token)
    assert renewed.status_code == 200
    token = renewed.json()["accessToken"]
    assert token_row(app, token_id).num_uses == 0
    assert use_token(client, token, identity_id).status_code == 200  # list
    assert token_row(app, token_id).num_uses == 1
    assert client.get(f"/api/v1/identities/{identity_id}", headers=bearer(token)).status_code == 200  # read
    assert token_row(app, token_id).num_uses == 2
    assert use_token(client, token, identity_id).status_code == 401
    assert renew(client, token).status_code == 401  # an exhausted token cannot be renewed either


def _segments(token: str) -> tuple[str, str, str]:
    head, body, signature = token.split(".")
    return head, body, signature


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tk_14_forged_access_tokens(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin)
    victim = admin.identity_id
    head, _, signature = _segments(token)
    payload = claims_of(token)
    forgeries = {
        "swapped-identity": f"{head}.{_b64({**payload, 'identityId': victim})}.{signature}",
        "re-signed": jwt.encode(payload, "a-random-key-that-is-long-enough-for-hs256", algorithm="HS256"),
        "alg-none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}.",
        "no-signature": f"{head}.{_b64(payload)}.",
    }
    for name, forged in forgeries.items():
        response = use_token(client, forged, victim)
        assert response.status_code == 403, name
        assert response.json()["error"] == "TokenError"
    # A correctly signed token naming another identity's token row is refused too.
    secret = app.state.context.signing_secret
    crossed = encode_access_token(
        identity_id=victim, token_id=token_id, secret=secret, issued_at=_now(app), expires_at=None
    )
    assert use_token(client, crossed, victim).status_code == 401
    # A correctly signed token of another type (e.g. a refresh token) is not an access token.
    other_type = jwt.encode({**payload, "authTokenType": "refreshToken"}, secret, algorithm="HS256")
    assert use_token(client, other_type, identity_id).status_code == 401


def test_tk_15_token_row_deleted(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin)
    with session_of(app) as session, session.begin():
        session.execute(delete(IdentityAccessToken).where(IdentityAccessToken.id == token_id))
    assert use_token(client, token, identity_id).status_code == 401
    assert renew(client, token).status_code == 401


def test_tk_16_renew_re_proves_the_same_principal(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(
        client, app, admin, accessTokenTTL=60, accessTokenMaxTTL=600
    )
    other_id, other_token, _ = token_auth_token(client, app, admin, accessTokenTTL=60, accessTokenMaxTTL=600)
    # Another identity's bearer header changes nothing: the token in the body is the only proof.
    renewed = client.post(RENEW, json={"accessToken": token}, headers=bearer(other_token))
    assert renewed.status_code == 200
    assert claims_of(renewed.json()["accessToken"])["identityId"] == identity_id
    # A body token whose claims were edited to name the other identity fails its signature.
    head, _, signature = _segments(token)
    edited = f"{head}.{_b64({**claims_of(token), 'identityId': other_id})}.{signature}"
    assert client.post(RENEW, json={"accessToken": edited}).status_code == 403
    assert token_row(app, token_id).identity_id == identity_id


def test_tk_17_token_auth_privilege_boundary(client: TestClient, app: Any, admin: Admin) -> None:
    """Infisical identity-auth-boundary: edit/create-token rights do not reach a more privileged identity."""
    role = {
        "slug": "auth-editor",
        "name": "Auth editor",
        "permissions": [{"subject": "identity", "action": ["read", "edit", "create", "create-token"]}],
    }
    assert (
        client.post(
            f"/api/v1/organization/{admin.org_id}/roles", json=role, headers=admin.headers
        ).status_code
        == 200
    )
    editor = add_identity(app, admin.org_id, role="no-access")
    assert (
        client.patch(
            f"/api/v1/identities/{editor.identity_id}", json={"role": "auth-editor"}, headers=admin.headers
        ).status_code
        == 200
    )
    target = create_identity(app, admin.org_id, role="admin", name="org-admin-machine")
    before = count_rows(app, IdentityAccessToken)
    attach = client.post(f"{TOKEN_AUTH}/identities/{target}", json={}, headers=editor.headers)
    assert attach.status_code == 403
    assert client.post(f"{TOKEN_AUTH}/identities/{target}", json={}, headers=admin.headers).status_code == 200
    minted = client.post(f"{TOKEN_AUTH}/identities/{target}/tokens", json={}, headers=editor.headers)
    assert minted.status_code == 403
    assert count_rows(app, IdentityAccessToken) == before


def test_tk_18_restart_preserves_revocation_and_uses(
    client: TestClient, app: Any, admin: Admin, settings: Any, engine: Any, clock: Any
) -> None:
    first_id, first, _ = token_auth_token(client, app, admin)
    second_id, second, second_token_id = token_auth_token(client, app, admin, accessTokenNumUsesLimit=5)
    assert client.post(REVOKE, json={"accessToken": first}).status_code == 200
    for _ in range(3):
        assert use_token(client, second, second_id).status_code == 200
    restarted = create_app(settings, clock=clock, engine=engine)  # a new process's app: no shared memory
    with TestClient(restarted, client=CLIENT_ADDR, raise_server_exceptions=False) as fresh:
        assert use_token(fresh, first, first_id).status_code == 401
        assert [use_token(fresh, second, second_id).status_code for _ in range(3)] == [200, 200, 401]
    assert token_row(app, second_token_id).num_uses == 5
