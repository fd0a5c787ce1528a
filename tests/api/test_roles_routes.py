"""Org and project roles over HTTP: built-ins listed, custom CRUD, validation, boundary."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Admin
from tests.rbac_helpers import add_identity

pytestmark = pytest.mark.usefixtures("fast_passwords")

CONFIG_READER = [
    {
        "subject": "secrets",
        "action": ["read"],
        "conditions": {"environment": "staging", "secretPath": {"$glob": "/config/**"}},
    }
]


def org_roles(admin: Admin, plural: bool = False) -> str:
    return f"/api/v1/{'organizations' if plural else 'organization'}/{admin.org_id}/roles"


def project_roles(project: dict[str, Any]) -> str:
    return f"/api/v1/projects/{project['id']}/roles"


def role_body(slug: str = "cfg-reader", permissions: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": "Config reader",
        "permissions": CONFIG_READER if permissions is None else permissions,
        **extra,
    }


# --- organisation roles ---------------------------------------------------------------------------


@pytest.mark.parametrize("plural", [False, True], ids=["organization", "organizations"])
def test_org_role_crud(client: TestClient, admin: Admin, plural: bool) -> None:
    base = org_roles(admin, plural)
    listed = client.get(base, headers=admin.headers)
    assert listed.status_code == 200
    assert [r["slug"] for r in listed.json()["data"]["roles"]] == ["admin", "member", "no-access"]

    body = role_body("auditor", [{"subject": "audit-logs", "action": "read"}], description="reads logs")
    created = client.post(base, json=body, headers=admin.headers)
    assert created.status_code == 200, created.text
    role = created.json()["role"]
    assert role["slug"] == "auditor"
    assert role["orgId"] == admin.org_id
    assert role["permissions"] == [{"subject": "audit-logs", "action": ["read"], "inverted": False}]

    assert (
        client.get(f"{base}/{role['id']}", headers=admin.headers).json()["role"]["description"]
        == "reads logs"
    )
    assert client.get(f"{base}/builtin-member", headers=admin.headers).json()["role"]["slug"] == "member"

    patched = client.patch(
        f"{base}/{role['id']}", json={"name": "Auditor", "slug": "auditors"}, headers=admin.headers
    )
    assert patched.status_code == 200
    assert (patched.json()["role"]["name"], patched.json()["role"]["slug"]) == ("Auditor", "auditors")
    assert "auditors" in [r["slug"] for r in client.get(base, headers=admin.headers).json()["data"]["roles"]]

    assert client.delete(f"{base}/{role['id']}", headers=admin.headers).status_code == 200
    assert client.get(f"{base}/{role['id']}", headers=admin.headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param(
            role_body(permissions=[{"subject": "rockets", "action": "read"}]),
            ["permissions", "0", "subject"],
            id="unknown-subject",
        ),
        pytest.param(
            role_body(permissions=[{"subject": "identity", "action": "fly"}]),
            ["permissions", "0", "action"],
            id="unknown-action",
        ),
        pytest.param(
            role_body(permissions=[{"subject": "secrets", "action": "read"}]),
            ["permissions", "0", "subject"],
            id="project-subject",
        ),
        pytest.param(role_body(slug="admin", permissions=[]), ["slug"], id="reserved-slug"),
        pytest.param(role_body(slug="Not A Slug", permissions=[]), ["slug"], id="bad-slug"),
        pytest.param({"slug": "x", "name": "x"}, ["permissions"], id="no-permissions"),
    ],
)
def test_org_role_validation(client: TestClient, admin: Admin, body: dict[str, Any], path: list[str]) -> None:
    response = client.post(org_roles(admin), json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationFailure"
    assert response.json()["message"][0]["path"] == path


def test_duplicate_slug(client: TestClient, admin: Admin) -> None:
    body = role_body("twice", [])
    assert client.post(org_roles(admin), json=body, headers=admin.headers).status_code == 200
    response = client.post(org_roles(admin), json=body, headers=admin.headers)
    assert response.status_code == 400
    assert "already exists" in response.json()["message"]


def test_org_role_in_use_cannot_be_deleted(client: TestClient, admin: Admin) -> None:
    role = client.post(
        org_roles(admin),
        json=role_body("ops", [{"subject": "identity", "action": "read"}]),
        headers=admin.headers,
    )
    role_id = role.json()["role"]["id"]
    identity = client.post(
        "/api/v1/identities",
        json={"name": "x", "organizationId": admin.org_id, "role": "ops"},
        headers=admin.headers,
    ).json()["identity"]
    assert client.delete(f"{org_roles(admin)}/{role_id}", headers=admin.headers).status_code == 400
    client.patch(f"/api/v1/identities/{identity['id']}", json={"role": "no-access"}, headers=admin.headers)
    assert client.delete(f"{org_roles(admin)}/{role_id}", headers=admin.headers).status_code == 200


def test_custom_org_role_decides_org_permissions(client: TestClient, admin: Admin, app: Any) -> None:
    body = role_body("identity-reader", [{"subject": "identity", "action": "read"}])
    assert client.post(org_roles(admin), json=body, headers=admin.headers).status_code == 200
    caller = add_identity(app, admin.org_id, role="no-access")
    assert (
        client.get("/api/v1/identities", params={"orgId": admin.org_id}, headers=caller.headers).status_code
        == 403
    )
    client.patch(
        f"/api/v1/identities/{caller.identity_id}", json={"role": "identity-reader"}, headers=admin.headers
    )
    assert (
        client.get("/api/v1/identities", params={"orgId": admin.org_id}, headers=caller.headers).status_code
        == 200
    )
    created = client.post(
        "/api/v1/identities", json={"name": "n", "organizationId": admin.org_id}, headers=caller.headers
    )
    assert created.status_code == 403


def test_org_role_boundary(client: TestClient, admin: Admin, app: Any) -> None:
    """A role manager can create roles only within what it holds itself."""
    manager = [
        {"subject": "role", "action": ["read", "create", "edit"]},
        {"subject": "identity", "action": "read"},
    ]
    client.post(org_roles(admin), json=role_body("role-manager", manager), headers=admin.headers)
    caller = add_identity(app, admin.org_id)
    client.patch(
        f"/api/v1/identities/{caller.identity_id}", json={"role": "role-manager"}, headers=admin.headers
    )

    within = client.post(
        org_roles(admin),
        json=role_body("reader", [{"subject": "identity", "action": "read"}]),
        headers=caller.headers,
    )
    assert within.status_code == 200, within.text
    beyond = client.post(
        org_roles(admin),
        json=role_body("creator", [{"subject": "identity", "action": ["read", "create"]}]),
        headers=caller.headers,
    )
    assert beyond.status_code == 403
    assert beyond.json()["error"] == "PermissionBoundaryError"
    assert beyond.json()["details"]["missingPermissions"] == [{"subject": "identity", "action": "create"}]
    # Widening an existing role through PATCH is bounded the same way.
    widened = client.patch(
        f"{org_roles(admin)}/{within.json()['role']['id']}",
        json={"permissions": [{"subject": "identity", "action": "delete"}]},
        headers=caller.headers,
    )
    assert widened.status_code == 403


@pytest.mark.parametrize("role", ["member", "no-access"])
def test_non_admins_cannot_create_org_roles(client: TestClient, admin: Admin, app: Any, role: str) -> None:
    caller = add_identity(app, admin.org_id, role=role)
    response = client.post(org_roles(admin), json=role_body("x", []), headers=caller.headers)
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionDenied"


def test_other_org_roles_are_refused(client: TestClient, admin: Admin) -> None:
    response = client.get("/api/v1/organization/not-our-org/roles", headers=admin.headers)
    assert response.status_code == 403


# --- project roles --------------------------------------------------------------------------------


def test_project_role_crud(client: TestClient, admin: Admin, project: dict[str, Any]) -> None:
    base = project_roles(project)
    created = client.post(base, json=role_body(), headers=admin.headers)
    assert created.status_code == 200, created.text
    role = created.json()["role"]
    assert role["projectId"] == project["id"]
    assert role["permissions"][0]["conditions"] == {
        "environment": "staging",
        "secretPath": {"$glob": "/config/**"},
    }

    listed = [r["slug"] for r in client.get(base, headers=admin.headers).json()["roles"]]
    assert listed == ["admin", "member", "viewer", "no-access", "cfg-reader"]
    assert client.get(f"{base}/slug/cfg-reader", headers=admin.headers).json()["role"]["id"] == role["id"]
    assert client.get(f"{base}/slug/viewer", headers=admin.headers).json()["role"]["id"] == "builtin-viewer"
    assert client.get(f"{base}/{role['id']}", headers=admin.headers).json()["role"]["slug"] == "cfg-reader"

    new_rules = [{"subject": "secrets", "action": "describeSecret"}]
    patched = client.patch(f"{base}/{role['id']}", json={"permissions": new_rules}, headers=admin.headers)
    assert patched.json()["role"]["permissions"] == [
        {"subject": "secrets", "action": ["describeSecret"], "inverted": False}
    ]
    assert client.delete(f"{base}/{role['id']}", headers=admin.headers).status_code == 200
    assert client.get(f"{base}/slug/cfg-reader", headers=admin.headers).status_code == 404


def test_project_roles_by_workspace_slug(client: TestClient, admin: Admin, project: dict[str, Any]) -> None:
    base = f"/api/v1/workspace/{project['slug']}/roles"
    created = client.post(base, json=role_body(), headers=admin.headers)
    assert created.status_code == 200, created.text
    assert "cfg-reader" in [r["slug"] for r in client.get(base, headers=admin.headers).json()["roles"]]
    assert client.get(f"{project_roles(project)}/slug/cfg-reader", headers=admin.headers).status_code == 200
    assert client.get("/api/v1/workspace/no-such-project/roles", headers=admin.headers).status_code == 404


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        pytest.param(
            {"subject": "secrets", "action": "read", "conditions": {"secretPath": "config"}},
            "secretPath",
            id="path-without-slash",
        ),
        pytest.param(
            {"subject": "secrets", "action": "read", "conditions": {"secretPath": {"$glob": "config/**"}}},
            "secretPath",
            id="glob-without-slash",
        ),
        pytest.param(
            {"subject": "secrets", "action": "read", "conditions": {"secretPath": {"$glob": "/a/../**"}}},
            "secretPath",
            id="glob-dotdot",
        ),
        pytest.param(
            {"subject": "secrets", "action": "read", "conditions": {"environment": {"$where": "1"}}},
            "environment",
            id="operator",
        ),
        pytest.param({"subject": "secrets", "action": "steal"}, "action", id="action"),
        pytest.param({"subject": "billing", "action": "read"}, "subject", id="org-subject"),
    ],
)
def test_project_role_validation(
    client: TestClient, admin: Admin, project: dict[str, Any], rule: dict[str, Any], path: str
) -> None:
    response = client.post(project_roles(project), json=role_body(permissions=[rule]), headers=admin.headers)
    assert response.status_code == 422, response.text
    assert path in response.json()["message"][0]["path"]


def test_project_role_of_another_project_is_not_found(
    client: TestClient, admin: Admin, project: dict[str, Any]
) -> None:
    other = client.post("/api/v2/workspace", json={"projectName": "Other"}, headers=admin.headers).json()[
        "project"
    ]
    role = client.post(project_roles(project), json=role_body(), headers=admin.headers).json()["role"]
    assert client.get(f"{project_roles(other)}/{role['id']}", headers=admin.headers).status_code == 404
    assert client.delete(f"{project_roles(other)}/{role['id']}", headers=admin.headers).status_code == 404


def test_project_role_boundary(client: TestClient, admin: Admin, app: Any, project: dict[str, Any]) -> None:
    """A project role manager limited to staging/config cannot mint a role reaching further."""
    manager = [
        {"subject": "role", "action": ["read", "create"]},
        {
            "subject": "secrets",
            "action": "read",
            "conditions": {"environment": "staging", "secretPath": {"$glob": "/config/**"}},
        },
    ]
    client.post(project_roles(project), json=role_body("role-manager", manager), headers=admin.headers)
    caller = add_identity(app, admin.org_id)
    added = client.post(
        f"/api/v1/projects/{project['id']}/memberships/identities/{caller.identity_id}",
        json={"roles": [{"role": "role-manager"}]},
        headers=admin.headers,
    )
    assert added.status_code == 200, added.text

    narrower = [
        {
            "subject": "secrets",
            "action": "readValue",
            "conditions": {"environment": "staging", "secretPath": "/config/db"},
        }
    ]
    assert (
        client.post(
            project_roles(project), json=role_body("narrow", narrower), headers=caller.headers
        ).status_code
        == 200
    )
    for rules in (
        [
            {
                "subject": "secrets",
                "action": "read",
                "conditions": {"environment": "prod", "secretPath": {"$glob": "/config/**"}},
            }
        ],
        [
            {
                "subject": "secrets",
                "action": "read",
                "conditions": {"environment": "staging", "secretPath": {"$glob": "/**"}},
            }
        ],
        [
            {
                "subject": "secrets",
                "action": "edit",
                "conditions": {"environment": "staging", "secretPath": "/config"},
            }
        ],
    ):
        response = client.post(project_roles(project), json=role_body("wider", rules), headers=caller.headers)
        assert response.status_code == 403
        assert response.json()["details"]["missingPermissions"]


def test_viewer_cannot_manage_project_roles(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any]
) -> None:
    caller = add_identity(app, admin.org_id)
    client.post(
        f"/api/v2/workspace/{project['id']}/identity-memberships/{caller.identity_id}",
        json={"role": "viewer"},
        headers=admin.headers,
    )
    assert client.get(project_roles(project), headers=caller.headers).status_code == 200
    response = client.post(project_roles(project), json=role_body(permissions=[]), headers=caller.headers)
    assert response.status_code == 403
    assert response.json()["error"] == "PermissionDenied"


def test_project_role_in_use_cannot_be_deleted(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any]
) -> None:
    role = client.post(project_roles(project), json=role_body(), headers=admin.headers).json()["role"]
    caller = add_identity(app, admin.org_id)
    client.post(
        f"/api/v2/workspace/{project['id']}/identity-memberships/{caller.identity_id}",
        json={"roles": [{"role": "cfg-reader"}]},
        headers=admin.headers,
    )
    response = client.delete(f"{project_roles(project)}/{role['id']}", headers=admin.headers)
    assert response.status_code == 400
