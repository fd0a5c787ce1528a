"""Identity management over HTTP: shapes, roles, privilege boundary, disable/expire/delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tessera.audit.models import AuditEvent
from tessera.clock import FrozenClock, iso_js
from tessera.identities.models import IdentityAccessToken, IdentityMetadata, IdentityOrgMembership
from tests.conftest import Admin
from tests.factories import make_org
from tests.rbac_helpers import add_identity, app_session, bearer, new_token

pytestmark = pytest.mark.usefixtures("fast_passwords")

IDENTITIES = "/api/v1/identities"


def create(client: TestClient, headers: dict[str, str], org_id: str, **body: Any) -> Any:
    return client.post(
        IDENTITIES, json={"name": "ci-runner", "organizationId": org_id, **body}, headers=headers
    )


def can_list(client: TestClient, headers: dict[str, str], org_id: str) -> int:
    return client.get(IDENTITIES, params={"orgId": org_id}, headers=headers).status_code


def test_create_defaults_and_shape(client: TestClient, admin: Admin) -> None:
    response = create(client, admin.headers, admin.org_id, metadata=[{"key": " team ", "value": "payments"}])
    assert response.status_code == 200, response.text
    identity = response.json()["identity"]
    assert set(identity) >= {
        "id",
        "name",
        "authMethod",
        "authMethods",
        "hasDeleteProtection",
        "orgId",
        "projectId",
        "createdAt",
        "updatedAt",
        "metadata",
        "isActive",
        "expiresAt",
    }
    assert identity["authMethods"] == []
    assert identity["hasDeleteProtection"] is False
    assert identity["isActive"] is True
    assert identity["orgId"] == admin.org_id
    assert [(m["key"], m["value"]) for m in identity["metadata"]] == [("team", "payments")]

    got = client.get(f"{IDENTITIES}/{identity['id']}", headers=admin.headers)
    assert got.status_code == 200
    membership = got.json()["identity"]
    assert membership["role"] == "no-access"  # the default org role
    assert membership["roleId"] is None
    assert membership["identityId"] == identity["id"]
    assert membership["identity"]["name"] == "ci-runner"
    assert membership["identity"]["authMethods"] == []
    assert membership["identity"]["activeLockoutAuthMethods"] == []
    assert membership["metadata"][0]["key"] == "team"


def test_list_and_search(client: TestClient, admin: Admin) -> None:
    for name, role in (("alpha-build", "member"), ("beta-deploy", "no-access"), ("gamma-build", "member")):
        assert create(client, admin.headers, admin.org_id, name=name, role=role).status_code == 200
    listed = client.get(IDENTITIES, params={"orgId": admin.org_id}, headers=admin.headers).json()
    assert listed["totalCount"] == 4  # the bootstrap admin and three new ones
    assert {m["identity"]["name"] for m in listed["identities"]} >= {
        "alpha-build",
        "beta-deploy",
        "gamma-build",
    }

    older = client.get(f"/api/v2/organizations/{admin.org_id}/identity-memberships", headers=admin.headers)
    assert older.json()["totalCount"] == 4

    def search(body: dict[str, Any]) -> list[str]:
        response = client.post(f"{IDENTITIES}/search", json=body, headers=admin.headers)
        assert response.status_code == 200, response.text
        return [m["identity"]["name"] for m in response.json()["identities"]]

    assert search({"search": {"name": {"$contains": "BUILD"}}}) == ["alpha-build", "gamma-build"]
    assert search({"search": {"name": "beta-deploy"}}) == ["beta-deploy"]
    assert search({"search": {"role": {"$in": ["member"]}}, "orderDirection": "desc"}) == [
        "gamma-build",
        "alpha-build",
    ]
    assert search({"search": {"name": {"$in": ["alpha-build", "x"]}}}) == ["alpha-build"]
    assert len(search({"limit": 1, "offset": 1})) == 1


@pytest.mark.parametrize(
    "search",
    [
        pytest.param({"name": {"$contains": "%"}}, id="like-wildcard"),
        pytest.param({"name": "a;drop"}, id="punctuation"),
        pytest.param({"role": "x" * 256}, id="too-long"),
    ],
)
def test_search_text_is_restricted(client: TestClient, admin: Admin, search: dict[str, Any]) -> None:
    response = client.post(f"{IDENTITIES}/search", json={"search": search}, headers=admin.headers)
    assert response.status_code == 422


def test_list_of_another_org_is_refused(client: TestClient, admin: Admin) -> None:
    response = client.get(
        IDENTITIES, params={"orgId": "00000000-0000-0000-0000-000000000000"}, headers=admin.headers
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        pytest.param({"role": "emperor"}, 404, "NotFound", id="unknown-role"),
        pytest.param({"name": "   "}, 422, "ValidationFailure", id="blank-name"),
        pytest.param({"organizationId": "other-org"}, 403, "PermissionDenied", id="foreign-org"),
        pytest.param(
            {"metadata": [{"key": "", "value": "x"}]}, 422, "ValidationFailure", id="empty-metadata-key"
        ),
        pytest.param({"expiresAt": "2001-01-01T00:00:00Z"}, 422, "ValidationFailure", id="expiry-in-past"),
    ],
)
def test_create_rejections(
    client: TestClient, admin: Admin, body: dict[str, Any], status: int, error: str
) -> None:
    payload = {"name": "x", "organizationId": admin.org_id, **body}
    response = client.post(IDENTITIES, json=payload, headers=admin.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


def test_identity_of_another_org_is_not_found(client: TestClient, admin: Admin, app: Any) -> None:
    with app_session(app) as session, session.begin():
        other_org = make_org(session, now=app.state.context.clock.now()).id
    stranger = add_identity(app, other_org, role="admin")
    assert client.get(f"{IDENTITIES}/{stranger.identity_id}", headers=admin.headers).status_code == 404
    assert client.delete(f"{IDENTITIES}/{stranger.identity_id}", headers=admin.headers).status_code == 404
    # …and the stranger, an admin of its own org, sees nothing of ours.
    assert client.get(f"{IDENTITIES}/{admin.identity_id}", headers=stranger.headers).status_code == 404


# --- permissions and the privilege boundary ------------------------------------------------------


def test_no_access_identity_can_do_nothing(client: TestClient, admin: Admin, app: Any) -> None:
    nobody = add_identity(app, admin.org_id, role="no-access")
    assert can_list(client, nobody.headers, admin.org_id) == 403
    response = create(client, nobody.headers, admin.org_id)
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionDenied"


@pytest.mark.parametrize(("role", "allowed"), [("no-access", True), ("member", True), ("admin", False)])
def test_member_can_create_only_up_to_its_own_role(
    client: TestClient, admin: Admin, app: Any, role: str, allowed: bool
) -> None:
    member = add_identity(app, admin.org_id, role="member")
    response = create(client, member.headers, admin.org_id, role=role)
    if allowed:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "PermissionBoundaryError"
    missing = body["details"]["missingPermissions"]
    assert {"subject": "role", "action": "create"} in missing
    assert {"subject": "identity", "action": "grant-privileges"} in missing


def test_member_cannot_grant_a_custom_role_with_more_permissions(
    client: TestClient, admin: Admin, app: Any
) -> None:
    role = {
        "slug": "identity-czar",
        "name": "Identity czar",
        "permissions": [{"subject": "identity", "action": ["read", "create", "grant-privileges"]}],
    }
    assert (
        client.post(
            f"/api/v1/organization/{admin.org_id}/roles", json=role, headers=admin.headers
        ).status_code
        == 200
    )
    member = add_identity(app, admin.org_id, role="member")
    response = create(client, member.headers, admin.org_id, role="identity-czar")
    assert response.status_code == 403
    assert response.json()["details"]["missingPermissions"] == [
        {"subject": "identity", "action": "grant-privileges"}
    ]
    # The admin can, and the identity then carries the custom role.
    created = create(client, admin.headers, admin.org_id, role="identity-czar")
    assert created.status_code == 200
    got = client.get(f"{IDENTITIES}/{created.json()['identity']['id']}", headers=admin.headers).json()[
        "identity"
    ]
    assert got["role"] == "custom"
    assert got["customRole"]["slug"] == "identity-czar"


def test_member_cannot_promote_itself(client: TestClient, admin: Admin, app: Any) -> None:
    member = add_identity(app, admin.org_id, role="member")
    response = client.patch(
        f"{IDENTITIES}/{member.identity_id}", json={"role": "admin"}, headers=member.headers
    )
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionBoundaryError"


@pytest.mark.parametrize(
    ("method", "body"),
    [
        pytest.param("patch", {"name": "pwned"}, id="rename"),
        pytest.param("patch", {"isActive": False}, id="disable"),
        pytest.param("patch", {"role": "no-access"}, id="demote"),
        pytest.param("delete", None, id="delete"),
    ],
)
def test_member_cannot_touch_a_more_privileged_identity(
    client: TestClient, admin: Admin, app: Any, method: str, body: dict[str, Any] | None
) -> None:
    member = add_identity(app, admin.org_id, role="member")
    url = f"{IDENTITIES}/{admin.identity_id}"
    response = client.request(method.upper(), url, json=body, headers=member.headers)
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionBoundaryError"
    assert can_list(client, admin.headers, admin.org_id) == 200  # the admin is untouched


def test_member_can_manage_a_peer(client: TestClient, admin: Admin, app: Any) -> None:
    member = add_identity(app, admin.org_id, role="member")
    peer = add_identity(app, admin.org_id, role="member", name="peer")
    response = client.patch(
        f"{IDENTITIES}/{peer.identity_id}", json={"name": "renamed"}, headers=member.headers
    )
    assert response.status_code == 200
    assert response.json()["identity"]["name"] == "renamed"


# --- update, disable, expire, delete --------------------------------------------------------------


def test_update_fields(client: TestClient, admin: Admin) -> None:
    identity = create(client, admin.headers, admin.org_id, metadata=[{"key": "a", "value": "1"}]).json()[
        "identity"
    ]
    url = f"{IDENTITIES}/{identity['id']}"
    response = client.patch(
        url,
        json={
            "name": "renamed",
            "hasDeleteProtection": True,
            "metadata": [{"key": "b", "value": "2"}],
            "role": "member",
        },
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()["identity"]
    assert updated["name"] == "renamed"
    assert updated["hasDeleteProtection"] is True
    assert [(m["key"], m["value"]) for m in updated["metadata"]] == [("b", "2")]
    assert client.get(url, headers=admin.headers).json()["identity"]["role"] == "member"
    # Turning protection off alone works (Infisical's quirk of ignoring it is not copied).
    assert (
        client.patch(url, json={"hasDeleteProtection": False}, headers=admin.headers).json()["identity"][
            "hasDeleteProtection"
        ]
        is False
    )


def test_delete_protection(client: TestClient, admin: Admin) -> None:
    identity = create(client, admin.headers, admin.org_id, hasDeleteProtection=True).json()["identity"]
    url = f"{IDENTITIES}/{identity['id']}"
    response = client.delete(url, headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["message"] == "Identity has delete protection"
    assert client.get(url, headers=admin.headers).status_code == 200
    client.patch(url, json={"hasDeleteProtection": False}, headers=admin.headers)
    assert client.delete(url, headers=admin.headers).status_code == 200


def test_delete_revokes_tokens_and_cascades(client: TestClient, admin: Admin, app: Any) -> None:
    target = add_identity(app, admin.org_id, role="member")
    client.patch(
        f"{IDENTITIES}/{target.identity_id}",
        json={"metadata": [{"key": "k", "value": "v"}]},
        headers=admin.headers,
    )
    assert can_list(client, target.headers, admin.org_id) == 200
    response = client.delete(f"{IDENTITIES}/{target.identity_id}", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["identity"]["id"] == target.identity_id
    assert can_list(client, target.headers, admin.org_id) == 401
    assert client.get(f"{IDENTITIES}/{target.identity_id}", headers=admin.headers).status_code == 404
    with app_session(app) as session:
        for model in (IdentityAccessToken, IdentityOrgMembership, IdentityMetadata):
            count = session.scalar(
                select(func.count()).select_from(model).where(model.identity_id == target.identity_id)
            )
            assert count == 0, model.__name__


def test_disable_revokes_tokens_at_once_and_reenabling_does_not_revive_them(
    client: TestClient, admin: Admin, app: Any
) -> None:
    target = add_identity(app, admin.org_id, role="member")
    second_token = new_token(app, target.identity_id)
    assert can_list(client, target.headers, admin.org_id) == 200
    response = client.patch(
        f"{IDENTITIES}/{target.identity_id}", json={"isActive": False}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["identity"]["isActive"] is False
    assert can_list(client, target.headers, admin.org_id) == 401
    assert can_list(client, bearer(second_token), admin.org_id) == 401

    client.patch(f"{IDENTITIES}/{target.identity_id}", json={"isActive": True}, headers=admin.headers)
    assert can_list(client, target.headers, admin.org_id) == 401  # revoked tokens stay revoked
    assert can_list(client, bearer(new_token(app, target.identity_id)), admin.org_id) == 200


def test_expired_identity_tokens_stop_working(
    client: TestClient, admin: Admin, app: Any, clock: FrozenClock
) -> None:
    target = add_identity(app, admin.org_id, role="member")
    expires = clock.now() + timedelta(seconds=60)
    response = client.patch(
        f"{IDENTITIES}/{target.identity_id}", json={"expiresAt": iso_js(expires)}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["identity"]["expiresAt"] == iso_js(expires)
    assert can_list(client, target.headers, admin.org_id) == 200
    clock.advance(61)
    assert can_list(client, target.headers, admin.org_id) == 401
    # Clearing the expiry brings the identity back (its tokens were never revoked, only refused).
    client.patch(f"{IDENTITIES}/{target.identity_id}", json={"expiresAt": None}, headers=admin.headers)
    assert can_list(client, target.headers, admin.org_id) == 200


def test_changes_are_audited(client: TestClient, admin: Admin, app: Any) -> None:
    identity = create(client, admin.headers, admin.org_id).json()["identity"]
    client.patch(f"{IDENTITIES}/{identity['id']}", json={"isActive": False}, headers=admin.headers)
    client.delete(f"{IDENTITIES}/{identity['id']}", headers=admin.headers)
    with app_session(app) as session:
        events = session.scalars(
            select(AuditEvent.event)
            .where(AuditEvent.identity_id == identity["id"])
            .order_by(AuditEvent.created_at)
        ).all()
    assert set(events) == {"identity.create", "identity.update", "identity.delete"}
