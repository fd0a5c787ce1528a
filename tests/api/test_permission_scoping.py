"""The seed's example end to end: a role allowing only `read` of secrets under /config in staging.

Checked through the explain route (what an administrator sees) and through `require_project`
(what every secrets route calls), with a real identity, custom role and project membership.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.errors import BadRequest, PermissionDenied
from tessera.projects.models import Project
from tessera.rbac.service import project_permissions, require_org, require_project
from tests.conftest import Admin
from tests.rbac_helpers import Caller, add_identity, app_session

pytestmark = pytest.mark.usefixtures("fast_passwords")

CONFIG_READER = [
    {
        "subject": "secrets",
        "action": ["read"],
        "conditions": {"environment": "staging", "secretPath": {"$glob": "/config/**"}},
    },
    {
        "subject": "secret-folders",
        "action": ["read"],
        "conditions": {"environment": "staging", "secretPath": {"$glob": "/config/**"}},
    },
]


@pytest.fixture
def reader(client: TestClient, admin: Admin, app: Any, project: dict[str, Any]) -> Caller:
    """An identity (org role no-access) whose only project role is the config reader."""
    role = {"slug": "cfg-reader", "name": "Config reader", "permissions": CONFIG_READER}
    assert (
        client.post(f"/api/v1/projects/{project['id']}/roles", json=role, headers=admin.headers).status_code
        == 200
    )
    caller = add_identity(app, admin.org_id, role="no-access", name="config-reader")
    response = client.post(
        f"/api/v2/workspace/{project['id']}/identity-memberships/{caller.identity_id}",
        json={"roles": [{"role": "cfg-reader"}]},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    return caller


CASES = [
    ("read", "secrets", "staging", "/config/db", True),
    ("read", "secrets", "staging", "/config", True),
    ("read", "secrets", "staging", "/config/db/nested", True),
    ("read", "secret-folders", "staging", "/config", True),
    ("read", "secrets", "prod", "/config/db", False),
    ("read", "secrets", "dev", "/config/db", False),
    ("read", "secrets", "staging", "/other", False),
    ("read", "secrets", "staging", "/configuration", False),
    ("read", "secrets", "staging", "/", False),
    ("create", "secrets", "staging", "/config/db", False),
    ("edit", "secrets", "staging", "/config/db", False),
    ("delete", "secrets", "staging", "/config/db", False),
    ("create", "secret-folders", "staging", "/config", False),
]
CASE_IDS = [f"{a}-{s}-{e}-{p}" for a, s, e, p, _ in CASES]


@pytest.mark.parametrize(("action", "subject", "environment", "path", "expected"), CASES, ids=CASE_IDS)
def test_explain_route(
    client: TestClient,
    admin: Admin,
    project: dict[str, Any],
    reader: Caller,
    action: str,
    subject: str,
    environment: str,
    path: str,
    expected: bool,
) -> None:
    params = {
        "action": action,
        "subject": subject,
        "environment": environment,
        "secretPath": path,
        "identityId": reader.identity_id,
    }
    response = client.get(
        f"/api/v1/projects/{project['id']}/permissions/explain", params=params, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allowed"] is expected
    assert body["identityId"] == reader.identity_id
    if expected:
        assert body["decidingRule"]["source"] == "project-role:cfg-reader"
        assert body["decidingRule"]["rule"]["subject"] == subject
    else:
        assert (body["reason"], body["decidingRule"]) == ("no_matching_rule", None)


@pytest.mark.parametrize(
    "path", ["/config/../other", "/config/%2e%2e/other", "/config/./db", "/config\\..\\other"]
)
def test_explain_refuses_escaping_paths(
    client: TestClient, admin: Admin, project: dict[str, Any], reader: Caller, path: str
) -> None:
    params = {
        "action": "read",
        "subject": "secrets",
        "environment": "staging",
        "secretPath": path,
        "identityId": reader.identity_id,
    }
    body = client.get(
        f"/api/v1/projects/{project['id']}/permissions/explain", params=params, headers=admin.headers
    ).json()
    assert (body["allowed"], body["reason"]) == (False, "invalid_secret_path")


@pytest.mark.parametrize(("action", "subject", "environment", "path", "expected"), CASES, ids=CASE_IDS)
def test_require_project(
    app: Any,
    project: dict[str, Any],
    reader: Caller,
    action: str,
    subject: str,
    environment: str,
    path: str,
    expected: bool,
) -> None:
    with app_session(app) as session:
        row = session.get(Project, project["id"])
        assert row is not None
        check = lambda: require_project(  # noqa: E731 - a check run once below
            session, reader.principal(), row, action, subject, environment=environment, secret_path=path
        )
        if expected:
            check()
        else:
            with pytest.raises(PermissionDenied):
                check()


@pytest.mark.parametrize("path", ["/config/../other", "/config/%2e%2e", "/config/./db"])
def test_require_project_rejects_escaping_paths(
    app: Any, project: dict[str, Any], reader: Caller, path: str
) -> None:
    with app_session(app) as session:
        row = session.get(Project, project["id"])
        assert row is not None
        with pytest.raises(BadRequest):
            require_project(
                session, reader.principal(), row, "read", "secrets", environment="staging", secret_path=path
            )


def test_permission_set_filters_lists(app: Any, project: dict[str, Any], reader: Caller) -> None:
    paths = ["/", "/config", "/config/db", "/other", "/config2"]
    with app_session(app) as session:
        row = session.get(Project, project["id"])
        assert row is not None
        permissions = project_permissions(session, reader.principal(), row)
        visible = [
            p for p in paths if permissions.can("readValue", "secrets", environment="staging", secretPath=p)
        ]
    assert visible == ["/config", "/config/db"]


def test_reader_has_no_org_permissions_and_no_other_project(
    client: TestClient, admin: Admin, app: Any, reader: Caller
) -> None:
    other = client.post("/api/v2/workspace", json={"projectName": "Other"}, headers=admin.headers).json()[
        "project"
    ]
    with app_session(app) as session:
        row = session.get(Project, other["id"])
        assert row is not None
        with pytest.raises(PermissionDenied):
            require_project(
                session,
                reader.principal(),
                row,
                "read",
                "secrets",
                environment="staging",
                secret_path="/config/db",
            )
        with pytest.raises(PermissionDenied):
            require_org(session, reader.principal(), "read", "identity")


def test_org_admin_has_every_project(app: Any, admin: Admin, project: dict[str, Any]) -> None:
    second_admin = add_identity(app, admin.org_id, role="admin")  # no project membership at all
    with app_session(app) as session:
        row = session.get(Project, project["id"])
        assert row is not None
        require_project(
            session, second_admin.principal(), row, "delete", "secrets", environment="prod", secret_path="/x"
        )
        explained = project_permissions(session, second_admin.principal(), row).explain("delete", "workspace")
    assert explained.allowed
    assert explained.grant is not None
    assert explained.grant.source == "org-admin"


@pytest.mark.parametrize("role", ["member", "no-access"])
def test_explain_is_admin_only(
    client: TestClient, admin: Admin, app: Any, project: dict[str, Any], role: str
) -> None:
    caller = add_identity(app, admin.org_id, role=role)
    if role == "member":
        client.post(
            f"/api/v2/workspace/{project['id']}/identity-memberships/{caller.identity_id}",
            json={"role": "member"},
            headers=admin.headers,
        )
    params = {"action": "read", "subject": "secrets"}
    response = client.get(
        f"/api/v1/projects/{project['id']}/permissions/explain", params=params, headers=caller.headers
    )
    assert response.status_code == 403
    org = client.get(
        f"/api/v1/organization/{admin.org_id}/permissions/explain",
        params={"action": "read", "subject": "identity"},
        headers=caller.headers,
    )
    assert org.status_code == 403


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"action": "read", "subject": "rockets"}, 422),
        ({"action": "fly", "subject": "secrets"}, 422),
        ({"action": "read", "subject": "secrets", "identityId": "no-such-identity"}, 404),
        ({"subject": "secrets"}, 422),
    ],
)
def test_explain_rejections(
    client: TestClient, admin: Admin, project: dict[str, Any], params: dict[str, str], status: int
) -> None:
    response = client.get(
        f"/api/v1/projects/{project['id']}/permissions/explain", params=params, headers=admin.headers
    )
    assert response.status_code == status


def test_org_explain(client: TestClient, admin: Admin, app: Any) -> None:
    member = add_identity(app, admin.org_id, role="member")
    url = f"/api/v1/organization/{admin.org_id}/permissions/explain"
    allowed = client.get(
        url,
        params={"action": "create", "subject": "identity", "identityId": member.identity_id},
        headers=admin.headers,
    )
    assert allowed.json()["allowed"] is True
    assert allowed.json()["decidingRule"]["source"] == "org-role:member"
    denied = client.get(
        url,
        params={"action": "create", "subject": "role", "identityId": member.identity_id},
        headers=admin.headers,
    )
    assert denied.json()["allowed"] is False
    mine = client.get(url, params={"action": "create", "subject": "role"}, headers=admin.headers).json()
    assert (mine["allowed"], mine["identityId"]) == (True, admin.identity_id)
