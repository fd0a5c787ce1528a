"""Catalogue §2.5, path scope and authorisation (PS-1 … PS-14), on SQLite and PostgreSQL.

I_ua may do anything in dev:/app/** except dev:/app/private/**. A path that is not canonical
(relative segments, encodings, odd characters) is refused with 422 before any permission check
or lookup; a canonical path outside the grant is 403 whether or not anything exists there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tessera.secrets.models import Secret
from tests.api.secrets_support import V3, restricted_headers
from tests.conftest import Admin
from tests.factories_auth import create_org
from tests.rbac_helpers import add_identity
from tests.security.scene import ACTIONS, Scene, assert_canaries_intact, build, rule
from tests.security.support import count_rows, same_answer


@pytest.fixture
def scene(client: TestClient, app: Any, admin: Admin) -> Scene:
    return build(client, app, admin)


def raw_get(scene: Scene, name: str, query: str) -> Any:
    """A read whose query string is sent exactly as written (no client-side re-encoding)."""
    url = f"{V3}/{name}?workspaceId={scene.p1['id']}&environment=dev&{query}"
    return scene.client.get(url, headers=scene.ua_headers)


def refused_without_leak(scene: Scene, response: Any) -> None:
    assert response.status_code in {403, 422}, response.text
    for value in scene.values():
        assert value not in response.text


def test_ps_1_dotdot_plain(scene: Scene) -> None:
    response = scene.ua.get("root", path="/app/../admin")
    refused_without_leak(scene, response)
    assert response.status_code == 422


@pytest.mark.parametrize(
    "query",
    [
        "secretPath=%2Fapp%2F%2e%2e%2Fadmin",
        "secretPath=/app/%252e%252e/admin",
        "secretPath=/app/..%2fadmin",
        "secretPath=/app/..%5cadmin",
        "secretPath=/app/%EF%BC%8E%EF%BC%8E%EF%BC%8Fadmin",
        "secretPath=/app/./../admin",
        "secretPath=/app/%2e/%2e%2e/admin",
        "secretPath=/app/%00/../admin",
    ],
    ids=[
        "encoded",
        "double-encoded",
        "dotdot-encoded-slash",
        "backslash",
        "fullwidth",
        "dot-dotdot",
        "mixed",
        "nul",
    ],
)
def test_ps_2_dotdot_encoded(scene: Scene, query: str) -> None:
    """CVE-2026-3605: the path is decoded once, by the framework, then refused before authorisation."""
    response = raw_get(scene, "root", query)
    refused_without_leak(scene, response)
    assert response.status_code == 422


@pytest.mark.parametrize("spelling", ["/app//", "//app", "/app/", "app", " /app "])
def test_ps_3_double_slash_and_trailing_are_canonical_for_every_verb(scene: Scene, spelling: str) -> None:
    ua = scene.ua
    assert ua.get("db_pw", path=spelling).json()["secret"]["secretValue"] == scene.canaries["dev:/app/db_pw"]
    assert "db_pw" in [s["secretKey"] for s in ua.list(path=spelling).json()["secrets"]]
    created = ua.create("NEW_ONE", "v", path=spelling)
    assert created.status_code == 200, created.text
    assert created.json()["secret"]["secretPath"] == "/app"
    assert ua.update("NEW_ONE", path=spelling, secretValue="w").status_code == 200
    assert ua.delete("NEW_ONE", path=spelling).status_code == 200
    assert ua.get("NEW_ONE", path="/app").status_code == 404
    # Storage never holds a non-canonical folder path.
    folders = scene.client.get(
        "/api/v1/folders",
        params={"workspaceId": scene.p1["id"], "environment": "dev", "path": "/", "recursive": "true"},
        headers=scene.admin.headers,
    )
    assert "//" not in folders.text


@pytest.mark.parametrize(
    ("env", "path", "name"),
    [
        ("dev", "/APP", "db_pw"),
        ("dev", "/App/private", "k"),
        ("dev", "/app/PRIVATE", "k"),
        ("DEV", "/app", "db_pw"),
        ("Prod", "/app", "db_pw"),
        ("prod ", "/app", "db_pw"),
        ("dev", "/app", "DB_PW"),
    ],
    ids=[
        "upper-folder",
        "mixed-folder",
        "upper-private",
        "upper-env",
        "title-env",
        "env-space",
        "upper-name",
    ],
)
def test_ps_4_case_variants_are_distinct_and_never_bypass_a_deny(
    scene: Scene, env: str, path: str, name: str
) -> None:
    response = scene.ua.get(name, env=env, path=path)
    assert response.status_code in {403, 404}, response.text
    for value in scene.values():
        assert value not in response.text


def test_ps_5_single_star_does_not_cross_folders(scene: Scene) -> None:
    headers = restricted_headers(
        scene.client,
        scene.app,
        scene.admin,
        scene.p1["id"],
        [rule("secrets", ACTIONS, "/app/*")],
        slug="one-level",
    )
    scene.admin_p1.folder("a", path="/app")
    scene.admin_p1.folder("b", path="/app/a")
    scene.admin_p1.ok("deep", "deep-value", path="/app/a/b")
    shallow = scene.ua.as_(headers)
    assert shallow.get("deep", path="/app/a/b").status_code == 403
    assert shallow.get("deep", path="/app/a").status_code in {403, 404}


def test_ps_6_deny_wins_for_every_verb_at_the_exact_boundary(scene: Scene) -> None:
    """GHSA-xp3c-3jw3-4vcr: LIST on the denied folder itself, with and without a slash, and every verb."""
    ua, secret_id = scene.ua, scene.ids["dev:/app/private/k"]
    attempts = {
        "list": ua.list(path="/app/private"),
        "list-slash": ua.list(path="/app/private/"),
        "list-recursive-parent": None,
        "read": ua.get("k", path="/app/private"),
        "write": ua.update("k", path="/app/private", secretValue="owned"),
        "create": ua.create("planted", "x", path="/app/private"),
        "delete": ua.delete("k", path="/app/private"),
        "history": scene.client.get(f"/api/v1/secret/{secret_id}/secret-versions", headers=scene.ua_headers),
        "version": scene.client.get(
            f"/api/v1/secret/{secret_id}/secret-versions/1", headers=scene.ua_headers
        ),
        "folders": scene.client.get(
            "/api/v1/folders",
            params={"workspaceId": scene.p1["id"], "environment": "dev", "path": "/app/private"},
            headers=scene.ua_headers,
        ),
    }
    for verb, response in attempts.items():
        if response is None:
            continue
        assert response.status_code == 403, (verb, response.status_code, response.text)
    recursive = ua.list(path="/app", recursive="true")
    assert recursive.status_code == 200
    assert scene.canaries["dev:/app/private/k"] not in recursive.text
    assert [s["secretKey"] for s in recursive.json()["secrets"]] == ["db_pw"]
    assert_canaries_intact(scene)


@pytest.mark.parametrize("name", ["*", "?", "[a]", "{x,y}", "!(z)", "**", "%", "_", "db_*", "db_?w"])
def test_ps_7_glob_metacharacters_in_names_are_literal(scene: Scene, name: str) -> None:
    """Infisical PR #6487 / GHSA-59w7-v8rr-pr4p: such names never widen a grant or a listing."""
    ua = scene.ua
    in_path = quote(name, safe="")
    created = ua.create(in_path, "literal-value", path="/app")
    assert created.status_code == 200, created.text
    got = ua.get(in_path, path="/app")
    assert got.json()["secret"]["secretKey"] == name
    assert got.json()["secret"]["secretValue"] == "literal-value"
    assert ua.get(in_path, path="/app/private").status_code == 403
    listed = sorted(s["secretKey"] for s in ua.list(path="/app").json()["secrets"])
    assert listed == sorted(["db_pw", name])
    # A role naming the secret literally grants exactly that secret.
    headers = restricted_headers(
        scene.client,
        scene.app,
        scene.admin,
        scene.p1["id"],
        [
            {
                "subject": "secrets",
                "action": ["read"],
                "conditions": {"environment": "dev", "secretName": name},
            }
        ],
        slug="one-name",
    )
    only = ua.as_(headers)
    assert only.get("db_pw", path="/app").status_code == 403
    assert only.get(in_path, path="/app").status_code == 200


def test_ps_8_cross_environment(scene: Scene) -> None:
    response = scene.ua.get("db_pw", env="prod", path="/app")
    assert response.status_code == 403
    assert scene.canaries["prod:/app/db_pw"] not in response.text


def test_ps_9_cross_project_idor(scene: Scene, app: Any) -> None:
    in_p2 = scene.ua_in(scene.p2)
    existing = in_p2.get("db_pw", path="/app")
    missing = in_p2.get("nope", path="/app")
    assert existing.status_code == 403
    same_answer(existing, missing)
    # By id: a forbidden secret is 403 and shows nothing; another organisation's secret is
    # exactly "not found". (A missing id in one's own organisation is 404: ids are random UUIDs,
    # so this tells nothing about secrets the caller did not already hold the id of.)
    by_id = scene.client.get(
        f"/api/v1/secret/{scene.ids['p2:dev:/app/db_pw']}/secret-versions", headers=scene.ua_headers
    )
    assert by_id.status_code == 403
    assert scene.canaries["p2:dev:/app/db_pw"] not in by_id.text
    outsider = add_identity(app, create_org(app), role="admin")
    foreign = scene.client.get(
        f"/api/v1/secret/{scene.ids['p2:dev:/app/db_pw']}/secret-versions", headers=outsider.headers
    )
    unknown = scene.client.get(
        "/api/v1/secret/00000000-0000-4000-8000-000000000000/secret-versions", headers=outsider.headers
    )
    assert foreign.status_code == 404
    same_answer(foreign, unknown)


def test_ps_10_listings_do_not_leak(scene: Scene) -> None:
    root = scene.ua.list(path="/", recursive="true")
    assert root.status_code in {200, 403}
    if root.status_code == 200:
        assert [s["secretKey"] for s in root.json()["secrets"]] == ["db_pw"]
    app_list = scene.ua.list(path="/app")
    assert [(s["secretKey"], s["secretPath"]) for s in app_list.json()["secrets"]] == [("db_pw", "/app")]
    for key in ("dev:/app/private/k", "dev:/admin/root", "prod:/app/db_pw"):
        assert scene.canaries[key] not in root.text + app_list.text


def test_ps_11_batch_is_authorised_as_a_whole(scene: Scene) -> None:
    before = count_rows(scene.app, Secret)
    items = [{"secretKey": f"K{i}", "secretValue": "v", "secretPath": "/app"} for i in range(99)]
    items.append({"secretKey": "ESCAPE", "secretValue": "v", "secretPath": "/admin"})
    response = scene.client.post(
        f"{V3.removesuffix('/raw')}/batch/raw",
        json={"workspaceId": scene.p1["id"], "environment": "dev", "secretPath": "/app", "secrets": items},
        headers=scene.ua_headers,
    )
    assert response.status_code == 403, response.text
    assert count_rows(scene.app, Secret) == before


def test_ps_12_move_or_rename_cannot_escape(scene: Scene) -> None:
    scene.ua.ok("movable", "m", path="/app")
    out = scene.ua.update("movable", path="/app", newSecretPath="/admin")
    assert out.status_code == 403, out.text
    into_private = scene.ua.update("movable", path="/app", newSecretPath="/app/private")
    assert into_private.status_code == 403
    pull = scene.ua.update("root", path="/admin", newSecretPath="/app")
    assert pull.status_code == 403
    assert scene.ua.get("movable", path="/app").status_code == 200
    assert_canaries_intact(scene)


def test_ps_13_route_confusion_through_the_query_string(client: TestClient) -> None:
    """Infisical PR #6138 (VULN-240): authentication is decided by the route, never by a substring."""
    for url in (
        "/api/v3/secrets/raw/x?next=/api/v1/auth/universal-auth/login",
        "/api/v3/secrets/raw?redirect=/api/v1/auth/token/renew&workspaceId=x&environment=dev",
        "/api/v1/identities?x=/healthz",
    ):
        response = client.get(url)
        assert response.status_code == 401, url


def test_ps_14_version_history_is_scoped(scene: Scene) -> None:
    secret_id = scene.ids["dev:/app/private/k"]
    scene.admin_p1.update("k", path="/app/private", secretValue="second")
    versions = scene.client.get(f"/api/v1/secret/{secret_id}/secret-versions", headers=scene.ua_headers)
    one = scene.client.get(f"/api/v1/secret/{secret_id}/secret-versions/1", headers=scene.ua_headers)
    rollback = scene.client.post(
        f"/api/v1/secret/{secret_id}/secret-versions/rollback", json={"version": 1}, headers=scene.ua_headers
    )
    for response in (versions, one, rollback):
        assert response.status_code == 403, response.text
        assert scene.canaries["dev:/app/private/k"] not in response.text
    latest = scene.admin_p1.get("k", path="/app/private").json()["secret"]["secretValue"]
    assert latest == "second"  # the rollback did not happen
