"""`/api/v4/secrets`: the CLI's routes share the v3 service; only parameter names differ."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.secrets_support import V4, Secrets
from tests.conftest import Admin


@pytest.fixture
def s(fast_passwords: None, client: TestClient, admin: Admin, project: dict[str, Any]) -> Secrets:
    return Secrets(client, project["id"], admin.headers)


def _body(s: Secrets, **extra: Any) -> dict[str, Any]:
    return {"projectId": s.project_id, "environment": "dev", "secretPath": "/", **extra}


def test_crud(s: Secrets) -> None:
    created = s.client.post(f"{V4}/TOKEN", json=_body(s, secretValue="one"), headers=s.headers)
    assert created.status_code == 200, created.text
    assert created.json()["secret"]["secretKey"] == "TOKEN"
    params = {"projectId": s.project_id, "environment": "dev", "secretPath": "/"}
    got = s.client.get(f"{V4}/TOKEN", params={**params, "type": "shared"}, headers=s.headers)
    assert got.json()["secret"]["secretValue"] == "one"
    patched = s.client.patch(f"{V4}/TOKEN", json=_body(s, secretValue="two"), headers=s.headers)
    assert patched.json()["secret"]["version"] == 2
    listed = s.client.get(V4, params=params, headers=s.headers)
    assert [x["secretValue"] for x in listed.json()["secrets"]] == ["two"]
    assert s.get("TOKEN").json()["secret"]["secretValue"] == "two"  # same data as v3
    deleted = s.client.request("DELETE", f"{V4}/TOKEN", json=_body(s), headers=s.headers)
    assert deleted.status_code == 200
    assert s.client.get(f"{V4}/TOKEN", params=params, headers=s.headers).status_code == 404


def test_list_accepts_the_cli_parameters(s: Secrets, client: TestClient, admin: Admin) -> None:
    s.ok("LOCAL", "${prod.REMOTE}")
    s.ok("REMOTE", "r", env="prod")
    body = {
        "workspaceId": s.project_id,
        "environment": "dev",
        "path": "/",
        "import": {"environment": "prod", "path": "/"},
    }
    assert client.post("/api/v1/secret-imports", json=body, headers=admin.headers).status_code == 200
    params = {
        "projectId": s.project_id,
        "environment": "dev",
        "secretPath": "/",
        "includeImports": "true",
        "recursive": "true",
        "expandSecretReferences": "true",
        "includePersonalOverrides": "true",
    }
    response = s.client.get(V4, params=params, headers=s.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["secrets"][0]["secretValue"] == "r"
    assert data["imports"][0]["secrets"][0]["secretKey"] == "REMOTE"
    assert response.headers["etag"]


def test_missing_project_is_400(s: Secrets) -> None:
    response = s.client.get(V4, params={"environment": "dev"}, headers=s.headers)
    assert response.status_code == 400
    assert response.json()["message"] == "Missing project id or environment"


def test_batch(s: Secrets) -> None:
    items = [
        {"secretKey": "A", "secretValue": "1"},
        {"secretKey": "B", "secretValue": "2", "secretPath": "/"},
    ]
    created = s.client.post(f"{V4}/batch", json=_body(s, secrets=items), headers=s.headers)
    assert created.status_code == 200, created.text
    assert s.keys() == ["A", "B"]
    removed = s.client.request(
        "DELETE", f"{V4}/batch", json=_body(s, secrets=[{"secretKey": "A"}]), headers=s.headers
    )
    assert removed.status_code == 200
    assert s.keys() == ["B"]


def test_requires_a_token(client: TestClient, project: dict[str, Any]) -> None:
    params = {"projectId": project["id"], "environment": "dev", "next": "/api/v1/auth/universal-auth/login"}
    assert client.get(V4, params=params).status_code == 401
