"""Helpers shared by the secrets, folders and KMS route tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Admin
from tests.factories import mint_token
from tests.factories_auth import create_identity, now_of, session_of

V3 = "/api/v3/secrets/raw"
V4 = "/api/v4/secrets"


class Secrets:
    """A thin caller of the v3 raw routes for one project."""

    def __init__(self, client: TestClient, project_id: str, headers: dict[str, str]) -> None:
        self.client = client
        self.project_id = project_id
        self.headers = headers

    def create(self, name: str, value: str, *, env: str = "dev", path: str = "/", **extra: Any) -> Any:
        body = {"workspaceId": self.project_id, "environment": env, "secretPath": path, "secretValue": value}
        return self.client.post(f"{V3}/{name}", json={**body, **extra}, headers=self.headers)

    def ok(self, name: str, value: str, *, env: str = "dev", path: str = "/", **extra: Any) -> dict[str, Any]:
        response = self.create(name, value, env=env, path=path, **extra)
        assert response.status_code == 200, response.text
        secret: dict[str, Any] = response.json()["secret"]
        return secret

    def get(self, name: str, *, env: str = "dev", path: str = "/", **params: Any) -> Any:
        query = {"workspaceId": self.project_id, "environment": env, "secretPath": path, **params}
        return self.client.get(f"{V3}/{name}", params=query, headers=self.headers)

    def list(
        self, *, env: str = "dev", path: str = "/", headers: dict[str, str] | None = None, **params: Any
    ) -> Any:
        query = {"workspaceId": self.project_id, "environment": env, "secretPath": path, **params}
        return self.client.get(V3, params=query, headers=headers or self.headers)

    def keys(self, **params: Any) -> list[str]:
        response = self.list(**params)
        assert response.status_code == 200, response.text
        return sorted(s["secretKey"] for s in response.json()["secrets"])

    def update(self, name: str, *, env: str = "dev", path: str = "/", **fields: Any) -> Any:
        body = {"workspaceId": self.project_id, "environment": env, "secretPath": path, **fields}
        return self.client.patch(f"{V3}/{name}", json=body, headers=self.headers)

    def delete(self, name: str, *, env: str = "dev", path: str = "/") -> Any:
        body = {"workspaceId": self.project_id, "environment": env, "secretPath": path}
        return self.client.request("DELETE", f"{V3}/{name}", json=body, headers=self.headers)

    def folder(self, name: str, *, env: str = "dev", path: str = "/") -> dict[str, Any]:
        body = {"projectId": self.project_id, "environment": env, "name": name, "path": path}
        response = self.client.post("/api/v2/folders", json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        folder: dict[str, Any] = response.json()["folder"]
        return folder

    def as_(self, headers: dict[str, str]) -> Secrets:
        return Secrets(self.client, self.project_id, headers)


def restricted_headers(
    client: TestClient,
    app: Any,
    admin: Admin,
    project_id: str,
    permissions: list[dict[str, Any]],
    *,
    slug: str = "limited",
) -> dict[str, str]:
    """Bearer headers of a new identity whose only access is a custom project role with `permissions`."""
    identity_id = create_identity(app, admin.org_id, role="no-access", name=f"limited-{slug}")
    role = client.post(
        f"/api/v1/projects/{project_id}/roles",
        json={"slug": slug, "name": slug, "permissions": permissions},
        headers=admin.headers,
    )
    assert role.status_code == 200, role.text
    membership = client.post(
        f"/api/v2/workspace/{project_id}/identity-memberships/{identity_id}",
        json={"roles": [{"role": slug}]},
        headers=admin.headers,
    )
    assert membership.status_code == 200, membership.text
    with session_of(app) as session, session.begin():
        from tessera.identities.models import Identity

        identity = session.get(Identity, identity_id)
        assert identity is not None
        login = mint_token(session, identity, now=now_of(app), secret=app.state.context.signing_secret)
    return {"Authorization": f"Bearer {login.access_token}"}


def app_rule(
    actions: list[str], *, env: str = "dev", glob: str = "/app/**", subject: str = "secrets"
) -> dict[str, Any]:
    return {
        "subject": subject,
        "action": actions,
        "conditions": {"environment": env, "secretPath": {"$glob": glob}},
    }
