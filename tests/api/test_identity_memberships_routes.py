"""Project identity memberships over HTTP: both route forms, roles, temporary access, boundary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.clock import FrozenClock, iso_js
from tests.conftest import Admin
from tests.factories import make_org
from tests.rbac_helpers import add_identity, app_session

pytestmark = pytest.mark.usefixtures("fast_passwords")


def v2(project: dict[str, Any], identity_id: str = "") -> str:
    base = f"/api/v2/workspace/{project['id']}/identity-memberships"
    return f"{base}/{identity_id}" if identity_id else base


def v1(project: dict[str, Any], identity_id: str = "") -> str:
    base = f"/api/v1/projects/{project['id']}/memberships/identities"
    return f"{base}/{identity_id}" if identity_id else base


def explain(
    client: TestClient, admin: Admin, project: dict[str, Any], identity_id: str, **query: str
) -> dict[str, Any]:
    params = {"identityId": identity_id, "action": "read", "subject": "secrets", **query}
    response = client.get(
        f"/api/v1/projects/{project['id']}/permissions/explain", params=params, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("form", [v2, v1], ids=["v2-workspace", "v1-projects"])
def test_add_defaults_to_no_access(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any], form: Any
) -> None:
    caller = add_identity(app, admin.org_id)
    response = client.post(form(project, caller.identity_id), json={}, headers=admin.headers)
    assert response.status_code == 200, response.text
    short = response.json()["identityMembership"]
    assert set(short) == {"id", "projectId", "identityId", "createdAt", "updatedAt"}
    assert (short["projectId"], short["identityId"]) == (project["id"], caller.identity_id)

    got = client.get(form(project, caller.identity_id), headers=admin.headers).json()["identityMembership"]
    assert [r["role"] for r in got["roles"]] == ["no-access"]
    assert got["identity"]["id"] == caller.identity_id
    assert got["project"] == {
        "id": project["id"],
        "name": "Payments",
        "slug": project["slug"],
        "type": "secret-manager",
    }
    assert not explain(client, admin, project, caller.identity_id, environment="dev", secretPath="/")[
        "allowed"
    ]


def test_roles_list_and_update_shapes(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any]
) -> None:
    caller = add_identity(app, admin.org_id, name="worker")
    client.post(v2(project, caller.identity_id), json={"role": "viewer"}, headers=admin.headers)

    listed = client.get(v2(project), headers=admin.headers).json()
    assert listed["totalCount"] == 1
    role = listed["identityMemberships"][0]["roles"][0]
    assert set(role) >= {
        "id",
        "role",
        "customRoleId",
        "customRoleName",
        "customRoleSlug",
        "isTemporary",
        "temporaryMode",
        "temporaryRange",
        "temporaryAccessStartTime",
        "temporaryAccessEndTime",
    }
    assert (role["role"], role["isTemporary"]) == ("viewer", False)
    v1_list = client.get(
        v1(project), params={"roles": "viewer", "identityName": "worker"}, headers=admin.headers
    ).json()
    assert v1_list["totalCount"] == 1
    assert client.get(v1(project), params={"roles": "admin"}, headers=admin.headers).json()["totalCount"] == 0

    patched = client.patch(
        v2(project, caller.identity_id),
        json={"roles": [{"role": "member"}, {"role": "viewer"}]},
        headers=admin.headers,
    )
    assert patched.status_code == 200
    assert sorted(r["role"] for r in patched.json()["roles"]) == ["member", "viewer"]
    patched_v1 = client.patch(
        v1(project, caller.identity_id), json={"roles": [{"role": "viewer"}]}, headers=admin.headers
    )
    assert [r["role"] for r in patched_v1.json()["identityMembership"]["roles"]] == ["viewer"]

    assert (
        client.patch(v1(project, caller.identity_id), json={"roles": []}, headers=admin.headers).status_code
        == 422
    )

    memberships = client.get(
        f"/api/v1/identities/{caller.identity_id}/identity-memberships", headers=admin.headers
    ).json()
    assert [m["project"]["id"] for m in memberships["identityMemberships"]] == [project["id"]]


def test_remove(client: TestClient, admin: Admin, app: Any, project: dict[str, Any]) -> None:
    caller = add_identity(app, admin.org_id)
    client.post(v1(project, caller.identity_id), json={"role": "viewer"}, headers=admin.headers)
    assert explain(client, admin, project, caller.identity_id, environment="dev", secretPath="/")["allowed"]
    response = client.delete(v1(project, caller.identity_id), headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["identityMembership"]["identityId"] == caller.identity_id
    assert not explain(client, admin, project, caller.identity_id, environment="dev", secretPath="/")[
        "allowed"
    ]
    assert client.get(v1(project, caller.identity_id), headers=admin.headers).status_code == 404
    assert client.delete(v1(project, caller.identity_id), headers=admin.headers).status_code == 404


def test_rejections(client: TestClient, admin: Admin, app: Any, project: dict[str, Any]) -> None:
    caller = add_identity(app, admin.org_id)
    assert client.post(v2(project, caller.identity_id), json={}, headers=admin.headers).status_code == 200
    again = client.post(v2(project, caller.identity_id), json={}, headers=admin.headers)
    assert again.status_code == 400
    assert "already exists in project" in again.json()["message"]

    with app_session(app) as session, session.begin():
        other_org = make_org(session, now=app.state.context.clock.now()).id
    stranger = add_identity(app, other_org)
    response = client.post(v2(project, stranger.identity_id), json={}, headers=admin.headers)
    assert response.status_code == 404
    assert response.json()["message"] == f"Failed to find identity with id {stranger.identity_id}"

    other = add_identity(app, admin.org_id, name="other")
    unknown = client.post(
        v2(project, other.identity_id), json={"roles": [{"role": "ghost"}]}, headers=admin.headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Custom project roles not found"
    missing_project = client.post(
        f"/api/v2/workspace/nope/identity-memberships/{other.identity_id}", json={}, headers=admin.headers
    )
    assert missing_project.status_code == 404


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"role": "viewer", "isTemporary": True}, id="missing-range"),
        pytest.param(
            {
                "role": "viewer",
                "isTemporary": True,
                "temporaryMode": "relative",
                "temporaryRange": "0s",
                "temporaryAccessStartTime": "2030-01-01T00:00:00Z",
            },
            id="zero-range",
        ),
        pytest.param(
            {
                "role": "viewer",
                "isTemporary": True,
                "temporaryMode": "relative",
                "temporaryRange": "soon",
                "temporaryAccessStartTime": "2030-01-01T00:00:00Z",
            },
            id="garbled-range",
        ),
        pytest.param(
            {
                "role": "viewer",
                "isTemporary": True,
                "temporaryMode": "absolute",
                "temporaryRange": "1h",
                "temporaryAccessStartTime": "2030-01-01T00:00:00Z",
            },
            id="unknown-mode",
        ),
    ],
)
def test_temporary_role_validation(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any], spec: dict[str, Any]
) -> None:
    caller = add_identity(app, admin.org_id)
    response = client.post(v2(project, caller.identity_id), json={"roles": [spec]}, headers=admin.headers)
    assert response.status_code == 422, response.text


def test_temporary_role_expires(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any], clock: FrozenClock
) -> None:
    caller = add_identity(app, admin.org_id)
    start = iso_js(clock.now())
    spec = {
        "role": "viewer",
        "isTemporary": True,
        "temporaryMode": "relative",
        "temporaryRange": "1h",
        "temporaryAccessStartTime": start,
    }
    response = client.post(
        v1(project, caller.identity_id), json={"roles": [spec, {"role": "no-access"}]}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    roles = client.get(v1(project, caller.identity_id), headers=admin.headers).json()["identityMembership"][
        "roles"
    ]
    role = next(r for r in roles if r["role"] == "viewer")
    assert (role["isTemporary"], role["temporaryMode"], role["temporaryRange"]) == (True, "relative", "1h")
    assert role["temporaryAccessStartTime"] == start
    assert role["temporaryAccessEndTime"] == iso_js(clock.now() + timedelta(hours=1))

    fields = {"environment": "prod", "secretPath": "/"}
    assert explain(client, admin, project, caller.identity_id, **fields)["allowed"]
    # The identity's own request is decided the same way.
    assert client.get(f"/api/v1/projects/{project['id']}", headers=caller.headers).status_code == 200
    clock.advance(3599)
    assert explain(client, admin, project, caller.identity_id, **fields)["allowed"]
    clock.advance(1)
    assert not explain(client, admin, project, caller.identity_id, **fields)["allowed"]
    assert client.get(f"/api/v1/projects/{project['id']}", headers=caller.headers).status_code == 403


# --- the privilege boundary -----------------------------------------------------------------------


def _project_member(client: TestClient, admin: Admin, app: Any, project: dict[str, Any], role: str) -> Any:
    caller = add_identity(app, admin.org_id, name=f"project-{role}")
    assert (
        client.post(v2(project, caller.identity_id), json={"role": role}, headers=admin.headers).status_code
        == 200
    )
    return caller


@pytest.mark.parametrize(("granted", "allowed"), [("viewer", True), ("member", True), ("admin", False)])
def test_project_member_can_grant_only_what_it_holds(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any], granted: str, allowed: bool
) -> None:
    member = _project_member(client, admin, app, project, "member")
    target = add_identity(app, admin.org_id, name="target")
    response = client.post(v2(project, target.identity_id), json={"role": granted}, headers=member.headers)
    if allowed:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionBoundaryError"
    assert {"subject": "role", "action": "create"} in response.json()["details"]["missingPermissions"]


def test_boundary_covers_custom_roles_and_every_role_in_the_list(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any]
) -> None:
    wide = [{"subject": "workspace", "action": "delete"}]
    client.post(
        f"/api/v1/projects/{project['id']}/roles",
        json={"slug": "wrecker", "name": "W", "permissions": wide},
        headers=admin.headers,
    )
    member = _project_member(client, admin, app, project, "member")
    target = add_identity(app, admin.org_id, name="target")
    response = client.post(
        v2(project, target.identity_id),
        json={"roles": [{"role": "viewer"}, {"role": "wrecker"}]},
        headers=member.headers,
    )
    assert response.status_code == 403
    assert response.json()["details"]["missingPermissions"] == [{"subject": "workspace", "action": "delete"}]


def test_member_cannot_promote_itself_or_touch_an_admin(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any]
) -> None:
    member = _project_member(client, admin, app, project, "member")
    boss = _project_member(client, admin, app, project, "admin")
    promote = client.patch(
        v2(project, member.identity_id), json={"roles": [{"role": "admin"}]}, headers=member.headers
    )
    assert promote.status_code == 403
    for method, body in (("PATCH", {"roles": [{"role": "viewer"}]}), ("DELETE", None)):
        response = client.request(method, v2(project, boss.identity_id), json=body, headers=member.headers)
        assert response.status_code == 403, method
        assert response.json()["error"] == "PermissionBoundaryError"


@pytest.mark.parametrize("role", ["viewer", "no-access"])
def test_viewers_cannot_manage_memberships(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any], role: str
) -> None:
    caller = _project_member(client, admin, app, project, role)
    target = add_identity(app, admin.org_id, name="target")
    response = client.post(
        v2(project, target.identity_id), json={"role": "no-access"}, headers=caller.headers
    )
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionDenied"


def test_org_admin_manages_any_project_without_membership(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any]
) -> None:
    second_admin = add_identity(app, admin.org_id, role="admin")
    target = add_identity(app, admin.org_id, name="target")
    response = client.post(
        v2(project, target.identity_id), json={"role": "admin"}, headers=second_admin.headers
    )
    assert response.status_code == 200, response.text
