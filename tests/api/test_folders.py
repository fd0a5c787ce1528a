"""Folders in the v1 (workspaceId/directory) and v2 (projectId) forms."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.secrets_support import Secrets, app_rule, restricted_headers
from tests.conftest import Admin


@pytest.fixture
def s(fast_passwords: None, client: TestClient, admin: Admin, project: dict[str, Any]) -> Secrets:
    return Secrets(client, project["id"], admin.headers)


def _list(s: Secrets, path: str = "/", version: int = 2, **params: Any) -> Any:
    key = "projectId" if version == 2 else "workspaceId"
    query = {key: s.project_id, "environment": "dev", "path": path, **params}
    return s.client.get(f"/api/v{version}/folders", params=query, headers=s.headers)


def test_create_nested_and_list(s: Secrets) -> None:
    app = s.folder("app")
    assert (app["name"], app["path"], app["isReserved"]) == ("app", "/app", False)
    db = s.folder("db", path="/app")
    assert db["parentId"] == app["id"]
    assert [f["name"] for f in _list(s).json()["folders"]] == ["app"]
    assert [f["name"] for f in _list(s, "/app", version=1).json()["folders"]] == ["db"]
    deep = _list(s, recursive="True").json()["folders"]
    assert [(f["name"], f["relativePath"]) for f in deep] == [("app", "/"), ("db", "/app")]


def test_v1_form_with_directory(s: Secrets) -> None:
    body = {"workspaceId": s.project_id, "environment": "dev", "name": "svc", "directory": "/"}
    created = s.client.post("/api/v1/folders", json=body, headers=s.headers)
    assert created.status_code == 200, created.text
    listed = s.client.get(
        "/api/v1/folders",
        params={"workspaceId": s.project_id, "environment": "dev", "directory": "/"},
        headers=s.headers,
    )
    assert [f["name"] for f in listed.json()["folders"]] == ["svc"]


def test_missing_parents_are_created_and_creation_is_idempotent(s: Secrets) -> None:
    deep = s.folder("c", path="/a/b")
    assert deep["path"] == "/a/b/c"
    assert s.folder("c", path="/a/b")["id"] == deep["id"]


def test_missing_folder_lists_empty(s: Secrets) -> None:
    response = _list(s, "/not/there")
    assert response.status_code == 200
    assert response.json() == {"folders": []}


@pytest.mark.parametrize("recursive", ["false", "False", "0", ""], ids=["false", "False", "zero", "empty"])
def test_lenient_recursive_flag(s: Secrets, recursive: str) -> None:
    s.folder("b", path="/a")
    assert [f["name"] for f in _list(s, recursive=recursive).json()["folders"]] == ["a"]


@pytest.mark.parametrize(
    "name",
    ["a b", "a/b", "a.b", "..", "ümlaut", "x" * 65],
    ids=["space", "slash", "dot", "dotdot", "umlaut", "long"],
)
def test_invalid_names_are_422(s: Secrets, name: str) -> None:
    body = {"projectId": s.project_id, "environment": "dev", "name": name, "path": "/"}
    response = s.client.post("/api/v2/folders", json=body, headers=s.headers)
    assert response.status_code == 422
    assert s.client.get(
        "/api/v2/folders", params={"projectId": s.project_id, "environment": "dev"}, headers=s.headers
    ).json() == {"folders": []}


def test_get_by_id(s: Secrets) -> None:
    folder = s.folder("x", path="/p")
    got = s.client.get(f"/api/v2/folders/{folder['id']}", headers=s.headers).json()["folder"]
    assert (got["path"], got["projectId"], got["environment"]["envSlug"]) == ("/p/x", s.project_id, "dev")
    assert s.client.get("/api/v2/folders/nope", headers=s.headers).status_code == 404


def test_rename_keeps_secrets_below_readable(s: Secrets) -> None:
    app = s.folder("app")
    s.folder("deep", path="/app")
    s.ok("TOP", "t", path="/app")
    s.ok("LOW", "l", path="/app/deep")
    s.update("LOW", path="/app/deep", secretValue="l2")
    body = {"projectId": s.project_id, "environment": "dev", "name": "service", "path": "/"}
    renamed = s.client.patch(f"/api/v2/folders/{app['id']}", json=body, headers=s.headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["folder"]["path"] == "/service"
    assert s.get("TOP", path="/service").json()["secret"]["secretValue"] == "t"
    assert s.get("LOW", path="/service/deep").json()["secret"]["secretValue"] == "l2"
    assert s.get("LOW", path="/service/deep", version=1).json()["secret"]["secretValue"] == "l"
    assert s.get("TOP", path="/app").status_code == 404


def test_rename_onto_an_existing_folder_conflicts(s: Secrets) -> None:
    a = s.folder("a")
    s.folder("b")
    body = {"projectId": s.project_id, "environment": "dev", "name": "b", "path": "/"}
    assert s.client.patch(f"/api/v2/folders/{a['id']}", json=body, headers=s.headers).status_code == 409


def test_delete_by_name_removes_everything_below(s: Secrets) -> None:
    s.folder("inner", path="/gone")
    s.ok("K", "v", path="/gone/inner")
    body = {"projectId": s.project_id, "environment": "dev", "path": "/"}
    deleted = s.client.request("DELETE", "/api/v2/folders/gone", json=body, headers=s.headers)
    assert deleted.status_code == 200, deleted.text
    assert _list(s).json()["folders"] == []
    assert s.list(path="/gone/inner").json()["secrets"] == []


def test_folder_permissions_are_path_scoped(s: Secrets, client: TestClient, app: Any, admin: Admin) -> None:
    s.folder("app")
    s.folder("admin")
    rules = [app_rule(["read", "create", "edit", "delete"], subject="secret-folders", glob="/app/**")]
    limited = s.as_(restricted_headers(client, app, admin, s.project_id, rules))
    assert (
        limited.client.post(
            "/api/v2/folders",
            json={"projectId": s.project_id, "environment": "dev", "name": "x", "path": "/admin"},
            headers=limited.headers,
        ).status_code
        == 403
    )
    ok = limited.client.post(
        "/api/v2/folders",
        json={"projectId": s.project_id, "environment": "dev", "name": "x", "path": "/app"},
        headers=limited.headers,
    )
    assert ok.status_code == 200, ok.text
    assert _list(limited, "/").status_code == 403
    assert [f["name"] for f in _list(limited, "/app").json()["folders"]] == ["x"]


def test_batch_rename(s: Secrets) -> None:
    a, b = s.folder("a"), s.folder("b")
    items = [
        {"id": a["id"], "environment": "dev", "name": "a2", "path": "/"},
        {"id": b["id"], "environment": "dev", "name": "b2", "path": "/"},
    ]
    response = s.client.patch(
        "/api/v2/folders/batch", json={"projectId": s.project_id, "folders": items}, headers=s.headers
    )
    assert response.status_code == 200, response.text
    assert [f["path"] for f in response.json()["folders"]] == ["/a2", "/b2"]
