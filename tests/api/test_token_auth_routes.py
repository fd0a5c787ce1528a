"""Token Auth over HTTP: config, minting, listing, renaming and revoking tokens, boundaries."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.clock import FrozenClock
from tests.conftest import Admin
from tests.factories_auth import (
    LOGIN_KEYS,
    TOKEN_AUTH,
    UA,
    bearer,
    create_client_secret,
    create_identity,
    create_org,
    token_auth_token,
    token_rows,
    ua_login,
    update_identity,
    use_token,
)

# Bootstrapping an admin hashes a password; these tests are about tokens, not hashing.
pytestmark = pytest.mark.usefixtures("fast_passwords")


def _attach(client: TestClient, admin: Admin, identity_id: str, **body: Any) -> Any:
    return client.post(f"{TOKEN_AUTH}/identities/{identity_id}", json=body, headers=admin.headers)


def test_attach_get_update_revoke(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id = create_identity(app, admin.org_id)
    attached = _attach(client, admin, identity_id, accessTokenTTL=60, accessTokenMaxTTL=120)
    assert attached.status_code == 200
    config = attached.json()["identityTokenAuth"]
    assert (config["identityId"], config["accessTokenTTL"], config["accessTokenMaxTTL"]) == (
        identity_id,
        60,
        120,
    )
    assert _attach(client, admin, identity_id).status_code == 400

    patched = client.patch(
        f"{TOKEN_AUTH}/identities/{identity_id}", json={"accessTokenNumUsesLimit": 3}, headers=admin.headers
    )
    assert patched.json()["identityTokenAuth"]["accessTokenNumUsesLimit"] == 3
    assert patched.json()["identityTokenAuth"]["accessTokenTTL"] == 60
    fetched = client.get(f"{TOKEN_AUTH}/identities/{identity_id}", headers=admin.headers)
    assert fetched.json() == patched.json()

    assert client.delete(f"{TOKEN_AUTH}/identities/{identity_id}", headers=admin.headers).status_code == 200
    assert client.get(f"{TOKEN_AUTH}/identities/{identity_id}", headers=admin.headers).status_code == 400


def test_attach_rejects_ttl_above_max(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id = create_identity(app, admin.org_id)
    response = _attach(client, admin, identity_id, accessTokenTTL=100, accessTokenMaxTTL=10)
    assert response.status_code == 422
    assert client.get(f"{TOKEN_AUTH}/identities/{identity_id}", headers=admin.headers).status_code == 400


def test_create_list_get_rename_revoke(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id = create_identity(app, admin.org_id)
    _attach(client, admin, identity_id, accessTokenTTL=600, accessTokenMaxTTL=1200, accessTokenNumUsesLimit=5)
    created = client.post(
        f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={"name": "deploy"}, headers=admin.headers
    )
    assert created.status_code == 200
    body = created.json()
    assert set(body) == LOGIN_KEYS | {"tokenData"}
    assert (body["expiresIn"], body["accessTokenMaxTTL"], body["tokenType"]) == (600, 1200, "Bearer")
    data = body["tokenData"]
    assert (data["name"], data["authMethod"], data["identityId"]) == ("deploy", "token-auth", identity_id)
    assert data["accessTokenNumUsesLimit"] == 5
    assert body["accessToken"] not in str(data)

    assert use_token(client, body["accessToken"], identity_id).status_code == 200

    listing = client.get(f"{TOKEN_AUTH}/identities/{identity_id}/tokens", headers=admin.headers).json()
    assert [t["id"] for t in listing["tokens"]] == [data["id"]]
    assert listing["tokens"][0]["accessTokenNumUses"] == 1
    assert body["accessToken"] not in str(listing)

    single = client.get(f"{TOKEN_AUTH}/tokens/{data['id']}", headers=admin.headers)
    assert single.json()["token"]["id"] == data["id"]
    legacy = client.get(f"{TOKEN_AUTH}/identities/{identity_id}/tokens/{data['id']}", headers=admin.headers)
    assert legacy.json()["token"]["id"] == data["id"]
    other = create_identity(app, admin.org_id)
    wrong_path = client.get(f"{TOKEN_AUTH}/identities/{other}/tokens/{data['id']}", headers=admin.headers)
    assert wrong_path.status_code == 404

    renamed = client.patch(f"{TOKEN_AUTH}/tokens/{data['id']}", json={"name": "ci"}, headers=admin.headers)
    assert renamed.json()["token"]["name"] == "ci"

    revoked = client.post(f"{TOKEN_AUTH}/tokens/{data['id']}/revoke", headers=admin.headers)
    assert revoked.json() == {"message": "Successfully revoked access token"}
    assert use_token(client, body["accessToken"], identity_id).status_code == 401
    assert client.post(f"{TOKEN_AUTH}/tokens/{data['id']}/revoke", headers=admin.headers).status_code == 404
    assert client.get(f"{TOKEN_AUTH}/tokens/{data['id']}", headers=admin.headers).status_code == 404
    assert client.get(f"{TOKEN_AUTH}/identities/{identity_id}/tokens", headers=admin.headers).json() == {
        "tokens": []
    }


def test_list_pagination(client: TestClient, app: Any, admin: Admin, clock: FrozenClock) -> None:
    identity_id = create_identity(app, admin.org_id)
    _attach(client, admin, identity_id)
    for index in range(3):
        clock.advance(1)
        client.post(
            f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={"name": f"t{index}"}, headers=admin.headers
        )
    page = client.get(f"{TOKEN_AUTH}/identities/{identity_id}/tokens?offset=1&limit=1", headers=admin.headers)
    assert [t["name"] for t in page.json()["tokens"]] == ["t1"]
    assert (
        client.get(
            f"{TOKEN_AUTH}/identities/{identity_id}/tokens?limit=101", headers=admin.headers
        ).status_code
        == 422
    )


def test_create_token_needs_the_method_and_a_live_identity(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id = create_identity(app, admin.org_id)
    no_method = client.post(f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={}, headers=admin.headers)
    assert no_method.status_code == 400
    _attach(client, admin, identity_id)
    update_identity(app, identity_id, is_active=False)
    disabled = client.post(f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={}, headers=admin.headers)
    assert disabled.status_code == 400
    assert token_rows(app, identity_id) == []


def test_other_organisations_identities_and_tokens_are_not_found(
    client: TestClient, app: Any, admin: Admin
) -> None:
    foreign = create_identity(app, create_org(app))
    assert _attach(client, admin, foreign).status_code == 404
    assert (
        client.post(f"{TOKEN_AUTH}/identities/{foreign}/tokens", json={}, headers=admin.headers).status_code
        == 404
    )
    assert client.get(f"{TOKEN_AUTH}/tokens/{uuid.uuid4()}", headers=admin.headers).status_code == 404


@pytest.mark.parametrize(
    ("caller_role", "target_role", "status"),
    [("member", "admin", 403), ("member", "no-access", 200), ("no-access", "no-access", 403)],
    ids=["member-on-admin", "member-on-no-access", "no-access-caller"],
)
def test_minting_respects_permissions_and_the_privilege_boundary(
    client: TestClient, app: Any, admin: Admin, caller_role: str, target_role: str, status: int
) -> None:
    _, caller_token, _ = token_auth_token(
        client, app, admin, identity_id=create_identity(app, admin.org_id, role=caller_role)
    )
    target = create_identity(app, admin.org_id, role=target_role)
    assert _attach(client, admin, target).status_code == 200
    response = client.post(f"{TOKEN_AUTH}/identities/{target}/tokens", json={}, headers=bearer(caller_token))
    assert response.status_code == status, response.text
    assert len(token_rows(app, target)) == (1 if status == 200 else 0)


def test_revoking_a_token_of_a_more_privileged_identity_is_refused(
    client: TestClient, app: Any, admin: Admin
) -> None:
    _, member_token, _ = token_auth_token(
        client, app, admin, identity_id=create_identity(app, admin.org_id, role="member")
    )
    target, target_token, target_token_id = token_auth_token(client, app, admin)
    response = client.post(f"{TOKEN_AUTH}/tokens/{target_token_id}/revoke", headers=bearer(member_token))
    assert response.status_code == 403
    assert use_token(client, target_token, target).status_code == 200


def test_several_methods_each_with_their_own_policy(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id = create_identity(app, admin.org_id)
    ua = client.post(
        f"{UA}/identities/{identity_id}", json={"accessTokenTTL": 100}, headers=admin.headers
    ).json()
    secret, _ = create_client_secret(client, admin, identity_id)
    _attach(client, admin, identity_id, accessTokenTTL=200)
    ua_token = ua_login(client, ua["identityUniversalAuth"]["clientId"], secret).json()
    minted = client.post(
        f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={}, headers=admin.headers
    ).json()
    assert (ua_token["expiresIn"], minted["expiresIn"]) == (100, 200)

    # Removing Token Auth revokes its tokens and nothing else.
    assert client.delete(f"{TOKEN_AUTH}/identities/{identity_id}", headers=admin.headers).status_code == 200
    assert use_token(client, minted["accessToken"], identity_id).status_code == 401
    assert use_token(client, ua_token["accessToken"], identity_id).status_code == 200


def test_token_ttl_expiry(client: TestClient, app: Any, admin: Admin, clock: FrozenClock) -> None:
    identity_id, token, _ = token_auth_token(client, app, admin, accessTokenTTL=60, accessTokenMaxTTL=60)
    clock.advance(60)
    assert use_token(client, token, identity_id).status_code == 403  # the JWT's own exp has passed
    assert use_token(client, token, identity_id).json()["error"] == "TokenError"
