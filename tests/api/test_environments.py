"""Environment CRUD under /api/v1/workspace/{id}/environments and /api/v1/projects/{id}/environments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Admin
from tests.factories import bootstrap_admin, local_app

pytestmark = pytest.mark.usefixtures("fast_passwords")

PREFIXES = ["/api/v1/workspace", "/api/v1/projects"]


@pytest.fixture(scope="module")
def local(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Admin, str]]:
    """SQLite, one app per module: for requests refused before anything is written."""
    with local_app(sqlite_template, tmp_path_factory.mktemp("environments")) as client:
        admin = bootstrap_admin(client)
        project = client.post("/api/v2/workspace", json={"projectName": "Fixed"}, headers=admin.headers)
        yield client, admin, project.json()["project"]["id"]


ENV_KEYS = {"id", "name", "slug", "position", "projectId", "createdAt", "updatedAt"}


def _envs(client: TestClient, admin: Admin, project_id: str, prefix: str = "/api/v1/workspace") -> list[Any]:
    response = client.get(f"{prefix}/{project_id}/environments", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"environments"}
    environments: list[Any] = response.json()["environments"]
    return environments


@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_shows_the_defaults_in_order(
    client: TestClient, admin: Admin, project: dict[str, Any], prefix: str
) -> None:
    environments = _envs(client, admin, project["id"], prefix)
    assert [(e["slug"], e["position"]) for e in environments] == [("dev", 1), ("staging", 2), ("prod", 3)]
    for env in environments:
        assert set(env) == ENV_KEYS
        assert env["projectId"] == project["id"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_create_update_delete(client: TestClient, admin: Admin, project: dict[str, Any], prefix: str) -> None:
    base = f"{prefix}/{project['id']}/environments"
    created = client.post(base, json={"name": "QA", "slug": "qa"}, headers=admin.headers)
    assert created.status_code == 200, created.text
    body = created.json()
    assert set(body) == {"message", "workspace", "environment"}
    assert body["message"] == "Successfully created new environment"
    assert body["workspace"]["id"] == project["id"]
    env = body["environment"]
    assert set(env) == ENV_KEYS
    assert (env["name"], env["slug"], env["position"], env["projectId"]) == ("QA", "qa", 4, project["id"])
    assert [e["slug"] for e in body["workspace"]["environments"]] == ["dev", "staging", "prod", "qa"]

    updated = client.patch(
        f"{base}/{env['id']}",
        json={"name": "Quality", "slug": "quality", "position": 9},
        headers=admin.headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["message"] == "Successfully updated environment"
    assert {k: updated.json()["environment"][k] for k in ("id", "name", "slug", "position")} == {
        "id": env["id"],
        "name": "Quality",
        "slug": "quality",
        "position": 9,
    }

    deleted = client.delete(f"{base}/{env['id']}", headers=admin.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["message"] == "Successfully deleted environment"
    assert deleted.json()["environment"]["slug"] == "quality"
    assert [e["slug"] for e in _envs(client, admin, project["id"])] == ["dev", "staging", "prod"]
    assert client.delete(f"{base}/{env['id']}", headers=admin.headers).status_code == 404


def test_create_at_an_explicit_position_and_with_a_form_body(
    client: TestClient, admin: Admin, project: dict[str, Any]
) -> None:
    base = f"/api/v1/workspace/{project['id']}/environments/"
    response = client.post(
        base, data={"name": "Preview", "slug": "preview", "position": "2"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["environment"]["position"] == 2


@pytest.mark.parametrize("prefix", PREFIXES)
def test_duplicate_slug_is_409(
    client: TestClient, admin: Admin, project: dict[str, Any], prefix: str
) -> None:
    base = f"{prefix}/{project['id']}/environments"
    response = client.post(base, json={"name": "Another dev", "slug": "dev"}, headers=admin.headers)
    assert (response.status_code, response.json()["error"]) == (409, "Conflict")
    assert "dev" in response.json()["message"]
    staging = next(e for e in project["environments"] if e["slug"] == "staging")
    renamed = client.patch(f"{base}/{staging['id']}", json={"slug": "prod"}, headers=admin.headers)
    assert renamed.status_code == 409
    assert [e["slug"] for e in _envs(client, admin, project["id"])] == ["dev", "staging", "prod"]


def test_the_same_slug_may_exist_in_two_projects(
    client: TestClient, admin: Admin, project: dict[str, Any]
) -> None:
    other = client.post("/api/v2/workspace", json={"projectName": "Other"}, headers=admin.headers).json()[
        "project"
    ]
    for project_id in (project["id"], other["id"]):
        response = client.post(
            f"/api/v1/workspace/{project_id}/environments",
            json={"name": "QA", "slug": "qa"},
            headers=admin.headers,
        )
        assert response.status_code == 200, response.text


def test_an_environment_is_reached_only_through_its_own_project(
    client: TestClient, admin: Admin, project: dict[str, Any]
) -> None:
    other = client.post("/api/v2/workspace", json={"projectName": "Other"}, headers=admin.headers).json()[
        "project"
    ]
    dev_of_other = other["environments"][0]["id"]
    base = f"/api/v1/workspace/{project['id']}/environments/{dev_of_other}"
    for method, body in [("PATCH", {"name": "Hijacked"}), ("DELETE", None)]:
        response = client.request(method, base, json=body, headers=admin.headers)
        assert response.status_code == 404, response.text
        assert response.json()["message"] == f"Environment with ID '{dev_of_other}' not found"
    assert _envs(client, admin, other["id"])[0]["name"] == "Development"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"slug": "qa"}, id="no-name"),
        pytest.param({"name": "QA"}, id="no-slug"),
        pytest.param({"name": "QA", "slug": "Q A"}, id="slug-not-slug"),
        pytest.param({"name": "QA", "slug": "QA"}, id="slug-uppercase"),
        pytest.param({"name": "", "slug": "qa"}, id="empty-name"),
        pytest.param({"name": "   ", "slug": "qa"}, id="blank-name"),
        pytest.param({"name": "QA", "slug": "qa", "position": 0}, id="position-zero"),
        pytest.param({"name": "QA", "slug": "qa", "position": "first"}, id="position-text"),
    ],
)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_create_refuses_bad_input(local: tuple[TestClient, Admin, str], prefix: str, body: Any) -> None:
    client, admin, project_id = local
    response = client.post(f"{prefix}/{project_id}/environments", json=body, headers=admin.headers)
    assert (response.status_code, response.json()["error"]) == (422, "ValidationFailure")
    assert len(_envs(client, admin, project_id)) == 3


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"slug": "Not A Slug"}, id="bad-slug"),
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param({"name": "  "}, id="blank-name"),
        pytest.param({"position": -1}, id="negative-position"),
    ],
)
def test_update_refuses_bad_input(local: tuple[TestClient, Admin, str], body: Any) -> None:
    client, admin, project_id = local
    dev = _envs(client, admin, project_id)[0]
    response = client.patch(
        f"/api/v1/workspace/{project_id}/environments/{dev['id']}", json=body, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert _envs(client, admin, project_id)[0] == dev
