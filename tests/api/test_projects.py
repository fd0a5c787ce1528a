"""Projects on both route families (/api/v1|v2/workspace and /api/v1/projects): envelopes, default
environments, slugs, and isolation between organisations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tessera.clock import FrozenClock
from tessera.projects.models import Environment
from tests.conftest import TEST_AUTH_SECRET, Admin
from tests.factories import bootstrap_admin, local_app, make_identity, make_org, mint_token

pytestmark = pytest.mark.usefixtures("fast_passwords")

CREATE_ROUTES = ["/api/v2/workspace", "/api/v1/projects"]
DEFAULT_ENVIRONMENTS = [("Development", "dev", 1), ("Staging", "staging", 2), ("Production", "prod", 3)]
PROJECT_KEYS = {"id", "name", "slug", "orgId", "environments", "type", "createdAt", "updatedAt"}


def _create(client: TestClient, admin: Admin, route: str = "/api/v2/workspace", **body: Any) -> Any:
    return client.post(route, json={"projectName": "Payments", **body}, headers=admin.headers)


@pytest.mark.parametrize("route", CREATE_ROUTES)
def test_create_answers_under_project_with_the_three_default_environments(
    client: TestClient, admin: Admin, route: str
) -> None:
    response = _create(client, admin, route, projectDescription="money")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"project"}
    project = response.json()["project"]
    assert set(project) >= PROJECT_KEYS
    assert project["_id"] == project["id"]
    assert (project["name"], project["description"], project["type"]) == (
        "Payments",
        "money",
        "secret-manager",
    )
    assert project["orgId"] == admin.org_id
    assert project["createdAt"].endswith("Z")
    assert [(e["name"], e["slug"], e["position"]) for e in project["environments"]] == DEFAULT_ENVIRONMENTS


def test_slug_is_derived_from_the_name_and_unique_unless_given(client: TestClient, admin: Admin) -> None:
    first = _create(client, admin, projectName="My Great App!").json()["project"]["slug"]
    second = _create(client, admin, projectName="My Great App!").json()["project"]["slug"]
    assert first.startswith("my-great-app-")
    assert first != second
    explicit = _create(client, admin, slug="chosen-slug").json()["project"]
    assert explicit["slug"] == "chosen-slug"


@pytest.mark.parametrize("route", CREATE_ROUTES)
def test_a_taken_slug_is_409(client: TestClient, admin: Admin, route: str, engine: Engine) -> None:
    assert _create(client, admin, slug="taken").status_code == 200
    response = _create(client, admin, route, projectName="Again", slug="taken")
    assert response.status_code == 409
    assert response.json()["error"] == "Conflict"
    # The refused create left no half-made project behind (its environments included).
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Environment)) == 3


def test_kms_projects_and_form_bodies(client: TestClient, admin: Admin) -> None:
    response = client.post(
        "/api/v1/projects/",
        data={"projectName": "Keys", "slug": "keys", "type": "kms"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["project"]["slug"], response.json()["project"]["type"]) == ("keys", "kms")


def test_organization_id_must_be_the_callers_own(client: TestClient, admin: Admin) -> None:
    assert _create(client, admin, organizationId=admin.org_id).status_code == 200
    response = _create(client, admin, organizationId="another-org")
    assert response.status_code == 400
    assert "organizationId" in response.json()["message"]


def test_get_answers_in_each_routes_own_envelope(
    client: TestClient, admin: Admin, project: dict[str, Any]
) -> None:
    by_workspace = client.get(f"/api/v1/workspace/{project['id']}", headers=admin.headers).json()
    by_project = client.get(f"/api/v1/projects/{project['id']}", headers=admin.headers).json()
    by_slug = client.get(f"/api/v1/projects/slug/{project['slug']}", headers=admin.headers).json()
    assert set(by_workspace) == {"workspace"}
    assert set(by_project) == {"project"}
    assert set(by_slug) >= PROJECT_KEYS  # the CLI reads this one at top level
    assert by_workspace["workspace"] == by_project["project"] == by_slug == project


def test_list_on_both_routes_oldest_first(client: TestClient, admin: Admin, clock: FrozenClock) -> None:
    names = ["One", "Two", "Three"]
    for name in names:
        _create(client, admin, projectName=name)
        clock.advance(1)
    workspaces = client.get("/api/v1/workspace", headers=admin.headers).json()
    projects = client.get("/api/v1/projects", headers=admin.headers).json()
    assert [p["name"] for p in workspaces["workspaces"]] == names
    assert projects["projects"] == workspaces["workspaces"]


@pytest.mark.parametrize(
    ("prefix", "key"), [("/api/v1/workspace", "workspace"), ("/api/v1/projects", "project")]
)
def test_update(
    client: TestClient, admin: Admin, project: dict[str, Any], clock: FrozenClock, prefix: str, key: str
) -> None:
    clock.advance(60)
    response = client.patch(
        f"{prefix}/{project['id']}",
        json={"name": "Renamed", "description": "new words", "slug": "renamed"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()[key]
    assert (updated["name"], updated["description"], updated["slug"]) == ("Renamed", "new words", "renamed")
    assert updated["updatedAt"] > project["updatedAt"]
    assert client.get("/api/v1/projects/slug/renamed", headers=admin.headers).json()["id"] == project["id"]


def test_update_to_a_taken_slug_is_409_and_changes_nothing(
    client: TestClient, admin: Admin, project: dict[str, Any]
) -> None:
    _create(client, admin, projectName="Other", slug="other")
    response = client.patch(
        f"/api/v1/workspace/{project['id']}", json={"name": "Renamed", "slug": "other"}, headers=admin.headers
    )
    assert response.status_code == 409
    current = client.get(f"/api/v1/workspace/{project['id']}", headers=admin.headers).json()["workspace"]
    assert (current["name"], current["slug"]) == (project["name"], project["slug"])


@pytest.mark.parametrize(
    ("prefix", "key"), [("/api/v1/workspace", "workspace"), ("/api/v1/projects", "project")]
)
def test_delete_removes_the_project_and_its_environments(
    client: TestClient, admin: Admin, project: dict[str, Any], engine: Engine, prefix: str, key: str
) -> None:
    response = client.delete(f"{prefix}/{project['id']}", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()[key]["id"] == project["id"]
    assert client.get(f"{prefix}/{project['id']}", headers=admin.headers).status_code == 404
    assert client.delete(f"{prefix}/{project['id']}", headers=admin.headers).status_code == 404
    with Session(engine) as session:  # the database cascade (SQLite needs its foreign_keys pragma)
        assert session.scalar(select(func.count()).select_from(Environment)) == 0


def test_unknown_project_is_404_naming_it(client: TestClient, admin: Admin) -> None:
    for method, path in [
        ("GET", "/api/v1/workspace/{id}"),
        ("GET", "/api/v1/projects/{id}"),
        ("PATCH", "/api/v1/workspace/{id}"),
        ("DELETE", "/api/v1/projects/{id}"),
        ("GET", "/api/v1/workspace/{id}/environments"),
    ]:
        response = client.request(method, path.format(id="no-such-project"), json={}, headers=admin.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["message"] == "Project with ID 'no-such-project' not found"


def test_unknown_slug_is_404(client: TestClient, admin: Admin) -> None:
    response = client.get("/api/v1/projects/slug/nope", headers=admin.headers)
    assert (response.status_code, response.json()["error"]) == (404, "NotFound")


def test_another_organisations_project_does_not_exist_for_the_caller(
    client: TestClient, admin: Admin, project: dict[str, Any], engine: Engine, clock: FrozenClock
) -> None:
    with Session(engine) as session, session.begin():
        org = make_org(session, now=clock.now())
        outsider = make_identity(session, org_id=org.id, now=clock.now(), role="admin")
        token = mint_token(session, outsider, now=clock.now(), secret=TEST_AUTH_SECRET.encode()).access_token
    theirs = {"Authorization": f"Bearer {token}"}
    pid = project["id"]
    attempts = [
        ("GET", f"/api/v1/workspace/{pid}", None),
        ("GET", f"/api/v1/projects/{pid}", None),
        ("GET", f"/api/v1/projects/slug/{project['slug']}", None),
        ("PATCH", f"/api/v1/workspace/{pid}", {"name": "Mine now"}),
        ("PATCH", f"/api/v1/projects/{pid}", {"name": "Mine now"}),
        ("DELETE", f"/api/v1/workspace/{pid}", None),
        ("DELETE", f"/api/v1/projects/{pid}", None),
        ("GET", f"/api/v1/workspace/{pid}/environments", None),
        ("POST", f"/api/v1/projects/{pid}/environments", {"name": "Evil", "slug": "evil"}),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, json=body, headers=theirs)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/api/v1/workspace", headers=theirs).json()["workspaces"] == []
    # Their own project is just as invisible the other way round.
    own = client.post("/api/v2/workspace", json={"projectName": "Theirs"}, headers=theirs).json()["project"]
    assert client.get(f"/api/v1/workspace/{own['id']}", headers=admin.headers).status_code == 404
    assert [p["id"] for p in client.get("/api/v1/projects", headers=admin.headers).json()["projects"]] == [
        pid
    ]
    # And ours is untouched.
    after = client.get(f"/api/v1/workspace/{pid}", headers=admin.headers).json()["workspace"]
    assert after == project


def test_project_routes_need_a_token(client: TestClient, project: dict[str, Any]) -> None:
    for method, path in [("GET", "/api/v1/workspace"), ("GET", f"/api/v1/projects/{project['id']}")]:
        response = client.request(method, path)
        assert (response.status_code, response.json()["message"]) == (401, "Token missing")
    assert client.post("/api/v2/workspace", json={"projectName": "x"}).status_code == 401


def test_trailing_slashes_are_ignored(client: TestClient, admin: Admin, project: dict[str, Any]) -> None:
    for path in [
        f"/api/v1/workspace/{project['id']}/",
        "/api/v1/projects/",
        f"/api/v1/projects/slug/{project['slug']}/",
    ]:
        assert client.get(path, headers=admin.headers).status_code == 200, path
    assert (
        client.post("/api/v2/workspace/", json={"projectName": "Slash"}, headers=admin.headers).status_code
        == 200
    )


# --- input validation: refused before anything is written, so one app serves every case ---------


@pytest.fixture(scope="module")
def local(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Admin]]:
    with local_app(sqlite_template, tmp_path_factory.mktemp("projects")) as client:
        admin = bootstrap_admin(client)
        project = client.post("/api/v2/workspace", json={"projectName": "Fixed"}, headers=admin.headers)
        assert project.status_code == 200
        yield client, admin


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "projectName", id="no-name"),
        pytest.param({"projectName": ""}, "projectName", id="empty-name"),
        pytest.param({"projectName": "   "}, "projectName", id="blank-name"),
        pytest.param({"projectName": "n" * 65}, "projectName", id="name-too-long"),
        pytest.param({"projectName": "ok", "slug": "Upper"}, "slug", id="slug-uppercase"),
        pytest.param({"projectName": "ok", "slug": "has space"}, "slug", id="slug-space"),
        pytest.param({"projectName": "ok", "slug": "double--hyphen"}, "slug", id="slug-double-hyphen"),
        pytest.param({"projectName": "ok", "slug": "-leading"}, "slug", id="slug-leading-hyphen"),
        pytest.param({"projectName": "ok", "slug": "trailing-"}, "slug", id="slug-trailing-hyphen"),
        pytest.param({"projectName": "ok", "slug": "under_score"}, "slug", id="slug-underscore"),
        pytest.param({"projectName": "ok", "slug": ""}, "slug", id="slug-empty"),
        pytest.param({"projectName": "ok", "slug": "s" * 65}, "slug", id="slug-too-long"),
        pytest.param({"projectName": "ok", "type": "cert-manager"}, "type", id="unsupported-type"),
    ],
)
@pytest.mark.parametrize("route", CREATE_ROUTES)
def test_create_refuses_bad_input(
    local: tuple[TestClient, Admin], route: str, body: dict[str, Any], field: str
) -> None:
    client, admin = local
    response = client.post(route, json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert [field] in [issue["path"] for issue in response.json()["message"]]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"slug": "Bad Slug"}, id="bad-slug"),
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param({"name": "   "}, id="blank-name"),
        pytest.param({"description": "d" * 1025}, id="description-too-long"),
    ],
)
def test_update_refuses_bad_input(local: tuple[TestClient, Admin], body: dict[str, Any]) -> None:
    client, admin = local
    project_id = client.get("/api/v1/workspace", headers=admin.headers).json()["workspaces"][0]["id"]
    response = client.patch(f"/api/v1/workspace/{project_id}", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text


def test_an_org_member_administers_the_project_it_creates_and_sees_only_its_own(
    client: TestClient, admin: Admin, project: dict[str, Any], engine: Engine, clock: FrozenClock
) -> None:
    with Session(engine) as session, session.begin():
        member = make_identity(session, org_id=admin.org_id, now=clock.now(), role="member")
        token = mint_token(session, member, now=clock.now(), secret=TEST_AUTH_SECRET.encode()).access_token
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/v2/workspace", json={"projectName": "Mine"}, headers=headers)
    assert created.status_code == 200, created.text
    mine = created.json()["project"]["id"]
    assert client.get(f"/api/v1/workspace/{mine}", headers=headers).status_code == 200
    env = client.post(
        f"/api/v1/projects/{mine}/environments", json={"name": "QA", "slug": "qa"}, headers=headers
    )
    assert env.status_code == 200, env.text
    # The admin's project exists but is not the member's: not listed, not readable.
    listed = [p["id"] for p in client.get("/api/v1/workspace", headers=headers).json()["workspaces"]]
    assert listed == [mine]
    assert client.get(f"/api/v1/workspace/{project['id']}", headers=headers).status_code == 403
    # The org admin still sees both.
    everything = {
        p["id"] for p in client.get("/api/v1/workspace", headers=admin.headers).json()["workspaces"]
    }
    assert everything == {mine, project["id"]}
