"""`/api/v3/secrets/raw`: wire shape, CRUD, lists, references, versions, 304, validation, permissions."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.secrets_support import V3, Secrets, app_rule, restricted_headers
from tests.conftest import Admin

JS_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CANARY = "canary-Zq8wX3vNp1"


@pytest.fixture
def s(fast_passwords: None, client: TestClient, admin: Admin, project: dict[str, Any]) -> Secrets:
    return Secrets(client, project["id"], admin.headers)


# --- wire shape and CRUD ---------------------------------------------------------------------------


def test_created_secret_carries_every_field_clients_read(s: Secrets, project: dict[str, Any]) -> None:
    secret = s.ok("DB_PASSWORD", "hunter2")
    assert secret["id"] == secret["_id"]
    assert secret["workspace"] == project["id"]
    assert (secret["environment"], secret["type"], secret["version"]) == ("dev", "shared", 1)
    assert (secret["secretKey"], secret["secretValue"], secret["secretComment"]) == (
        "DB_PASSWORD",
        "hunter2",
        "",
    )
    assert secret["secretPath"] == "/"
    assert secret["secretValueHidden"] is False
    assert secret["tags"] == []
    assert JS_ISO.match(secret["createdAt"])
    assert JS_ISO.match(secret["updatedAt"])


def test_crud_round_trip(s: Secrets) -> None:
    s.ok("API_KEY", "one", secretComment="first")
    got = s.get("API_KEY").json()["secret"]
    assert (got["secretValue"], got["secretComment"]) == ("one", "first")
    updated = s.update("API_KEY", secretValue="two")
    assert updated.status_code == 200
    assert updated.json()["secret"]["version"] == 2
    assert updated.json()["secret"]["secretComment"] == "first"  # untouched fields stay
    assert s.get("API_KEY").json()["secret"]["secretValue"] == "two"
    deleted = s.delete("API_KEY")
    assert deleted.status_code == 200
    assert deleted.json()["secret"]["secretKey"] == "API_KEY"
    missing = s.get("API_KEY")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Secret not found"


def test_duplicate_name_conflicts(s: Secrets) -> None:
    s.ok("DUP", "a")
    again = s.create("DUP", "b")
    assert again.status_code == 409
    assert s.get("DUP").json()["secret"]["secretValue"] == "a"


def test_values_are_trimmed_but_keep_one_trailing_newline(s: Secrets) -> None:
    assert s.ok("A", "  spaced  ")["secretValue"] == "spaced"
    assert s.ok("B", "  pem\n")["secretValue"] == "pem\n"


def test_rename_and_move(s: Secrets) -> None:
    s.folder("app")
    s.ok("OLD", "v")
    renamed = s.update("OLD", newSecretName="NEW")
    assert renamed.status_code == 200
    assert s.get("OLD").status_code == 404
    moved = s.update("NEW", newSecretPath="/app")
    assert moved.status_code == 200, moved.text
    assert moved.json()["secret"]["secretPath"] == "/app"
    assert s.get("NEW", path="/app").json()["secret"]["secretValue"] == "v"
    assert s.get("NEW").status_code == 404


def test_rename_onto_existing_name_conflicts(s: Secrets) -> None:
    s.ok("ONE", "1")
    s.ok("TWO", "2")
    assert s.update("ONE", newSecretName="TWO").status_code == 409
    assert s.get("ONE").json()["secret"]["secretValue"] == "1"


def test_project_by_slug(s: Secrets, client: TestClient, admin: Admin, project: dict[str, Any]) -> None:
    body = {"projectSlug": project["slug"], "environment": "dev", "secretValue": "v"}
    assert client.post(f"{V3}/BY_SLUG", json=body, headers=admin.headers).status_code == 200
    listed = client.get(
        V3, params={"workspaceSlug": project["slug"], "environment": "dev"}, headers=admin.headers
    )
    assert [x["secretKey"] for x in listed.json()["secrets"]] == ["BY_SLUG"]
    unknown = client.get(V3, params={"workspaceSlug": "nope", "environment": "dev"}, headers=admin.headers)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"environment": "dev"}, "Missing workspace id or environment"),
        ({"workspaceId": "x"}, "Missing workspace id or environment"),
    ],
    ids=["no-project", "no-environment"],
)
def test_list_requires_project_and_environment(
    client: TestClient, admin: Admin, params: dict[str, str], message: str
) -> None:
    response = client.get(V3, params=params, headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_missing_folder_lists_empty_but_get_and_create_are_404(s: Secrets) -> None:
    listed = s.list(path="/nowhere")
    assert listed.status_code == 200
    assert listed.json()["secrets"] == []
    assert s.get("X", path="/nowhere").json()["message"] == (
        "Folder not found for the given environment slug & secret path"
    )
    assert s.create("X", "v", path="/nowhere").status_code == 404


def test_unknown_environment_is_404(s: Secrets) -> None:
    assert s.list(env="qa").status_code == 404


def test_another_organisations_project_looks_missing(s: Secrets, client: TestClient) -> None:
    other = Secrets(client, "00000000-0000-0000-0000-000000000000", s.headers)
    assert other.list().status_code == 404


def test_personal_secrets_are_refused_for_identities(s: Secrets) -> None:
    assert s.create("P", "v", type="personal").status_code == 400
    assert s.get("P", type="personal").status_code == 400


# --- lists ----------------------------------------------------------------------------------------


def test_recursive_list_walks_the_subtree_with_paths(s: Secrets) -> None:
    s.folder("app")
    s.folder("db", path="/app")
    s.ok("ROOT", "r")
    s.ok("APP", "a", path="/app")
    s.ok("DB", "d", path="/app/db")
    flat = s.list(path="/app").json()["secrets"]
    assert [x["secretKey"] for x in flat] == ["APP"]
    deep = s.list(path="/app", recursive="true").json()["secrets"]
    assert sorted((x["secretKey"], x["secretPath"]) for x in deep) == [("APP", "/app"), ("DB", "/app/db")]
    everything = s.list(recursive="true").json()["secrets"]
    assert len(everything) == 3


def test_a_sibling_with_a_common_prefix_is_not_in_the_subtree(s: Secrets) -> None:
    s.folder("app")
    s.folder("app_b")
    s.ok("IN", "1", path="/app")
    s.ok("OUT", "2", path="/app_b")
    assert [x["secretKey"] for x in s.list(path="/app", recursive="true").json()["secrets"]] == ["IN"]


@pytest.mark.parametrize("value", ["True", "1", "yes", "TRUE", ""], ids=lambda v: v or "empty")
def test_query_booleans_are_exactly_true_or_false(s: Secrets, value: str) -> None:
    assert s.list(recursive=value).status_code == 422


def test_view_secret_value_false_masks_values(s: Secrets) -> None:
    s.ok("K", "v")
    secret = s.list(viewSecretValue="false").json()["secrets"][0]
    assert (secret["secretValue"], secret["secretValueHidden"]) == ("<hidden-by-infisical>", True)


def test_tag_slugs_keep_secrets_with_any_tag(s: Secrets, client: TestClient, admin: Admin) -> None:
    tags = {}
    for slug in ("red", "blue"):
        created = client.post(
            f"/api/v1/workspace/{s.project_id}/tags", json={"slug": slug}, headers=admin.headers
        )
        assert created.status_code == 200, created.text
        tags[slug] = created.json()["workspaceTag"]["id"]
    s.ok("R", "1", tagIds=[tags["red"]])
    s.ok("B", "2", tagIds=[tags["blue"]])
    s.ok("N", "3")
    assert s.keys(tagSlugs="red") == ["R"]
    assert s.keys(tagSlugs=" red , blue ") == ["B", "R"]
    tagged = s.get("R").json()["secret"]["tags"]
    assert [t["slug"] for t in tagged] == ["red"]
    assert s.create("T", "v", tagIds=["00000000-0000-0000-0000-000000000000"]).status_code == 404


def test_etag_and_if_none_match(s: Secrets) -> None:
    s.ok("K", "v1")
    first = s.list()
    etag = first.headers["etag"]
    assert etag.startswith('"')
    cached = s.list(headers={**s.headers, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    s.update("K", secretValue="v2")
    changed = s.list(headers={**s.headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_etag_is_keyed_not_a_plain_hash_of_the_body(s: Secrets) -> None:
    import hashlib

    s.ok("K", "guessable")
    response = s.list()
    for algorithm in ("md5", "sha1", "sha256"):
        assert hashlib.new(algorithm, response.content).hexdigest() not in response.headers["etag"]


# --- imports --------------------------------------------------------------------------------------


def _import(
    client: TestClient, admin: Admin, project_id: str, path: str, source_env: str, source_path: str
) -> Any:
    body = {
        "workspaceId": project_id,
        "environment": "dev",
        "path": path,
        "import": {"environment": source_env, "path": source_path},
    }
    return client.post("/api/v1/secret-imports", json=body, headers=admin.headers)


def test_imports_are_reported_by_the_list_and_found_by_get(
    s: Secrets, client: TestClient, admin: Admin
) -> None:
    s.ok("SHARED", "from-prod", env="prod")
    s.ok("LOCAL", "here")
    created = _import(client, admin, s.project_id, "/", "prod", "/")
    assert created.status_code == 200, created.text
    assert created.json()["secretImport"]["importEnv"]["slug"] == "prod"
    body = s.list(include_imports="true").json()
    assert [x["secretKey"] for x in body["secrets"]] == ["LOCAL"]
    [imported] = body["imports"]
    assert (imported["environment"], imported["secretPath"]) == ("prod", "/")
    assert [(x["secretKey"], x["secretValue"]) for x in imported["secrets"]] == [("SHARED", "from-prod")]
    assert "imports" not in s.list().json()
    assert s.get("SHARED").status_code == 404
    via_import = s.get("SHARED", include_imports="true")
    assert via_import.json()["secret"]["secretValue"] == "from-prod"
    listed = client.get(
        "/api/v1/secret-imports",
        params={"workspaceId": s.project_id, "environment": "dev", "path": "/"},
        headers=admin.headers,
    )
    assert len(listed.json()["secretImports"]) == 1


def test_import_cycles_terminate(s: Secrets, client: TestClient, admin: Admin) -> None:
    s.ok("D", "dev")
    s.ok("P", "prod", env="prod")
    assert _import(client, admin, s.project_id, "/", "prod", "/").status_code == 200
    back = {
        "workspaceId": s.project_id,
        "environment": "prod",
        "path": "/",
        "import": {"environment": "dev", "path": "/"},
    }
    assert client.post("/api/v1/secret-imports", json=back, headers=admin.headers).status_code == 200
    imports = s.list(include_imports="true").json()["imports"]
    assert [i["environment"] for i in imports] == ["prod"]


# --- references -----------------------------------------------------------------------------------


def test_references_expand_within_and_across_environments(s: Secrets) -> None:
    s.folder("db", env="prod")
    s.ok("USER", "app")
    s.ok("HOST", "db.internal", env="prod", path="/db")
    s.ok("URL", "postgres://${USER}@${prod.db.HOST}/x ${MISSING} ${ not a ref }")
    expanded = s.get("URL", expandSecretReferences="true").json()["secret"]["secretValue"]
    assert expanded == "postgres://app@db.internal/x ${MISSING} ${ not a ref }"
    raw = s.get("URL").json()["secret"]["secretValue"]
    assert raw.startswith("postgres://${USER}")
    listed = {
        x["secretKey"]: x["secretValue"] for x in s.list(expandSecretReferences="true").json()["secrets"]
    }
    assert listed["URL"] == expanded


def test_reference_cycles_terminate_and_leave_the_cycle_unexpanded(s: Secrets) -> None:
    s.ok("A", "a[${B}]")
    s.ok("B", "b[${A}]")
    s.ok("SELF", "x${SELF}")
    values = {
        x["secretKey"]: x["secretValue"] for x in s.list(expandSecretReferences="true").json()["secrets"]
    }
    assert values == {"A": "a[b[${A}]]", "B": "b[a[${B}]]", "SELF": "x${SELF}"}


def test_replacement_is_literal(s: Secrets) -> None:
    s.ok("SPECIAL", r"$& \1 $1")
    s.ok("USE", "<${SPECIAL}>")
    assert s.get("USE", expandSecretReferences="true").json()["secret"]["secretValue"] == r"<$& \1 $1>"


# --- versions -------------------------------------------------------------------------------------


def test_every_change_is_a_version_and_old_versions_are_readable(s: Secrets, client: TestClient) -> None:
    created = s.ok("V", "one")
    s.update("V", secretValue="two")
    s.update("V", newSecretName="V2")
    versions = client.get(f"/api/v1/secret/{created['id']}/secret-versions", headers=s.headers).json()
    assert [(v["version"], v["secretKey"], v["secretValue"]) for v in versions["secretVersions"]] == [
        (3, "V2", "two"),
        (2, "V", "two"),
        (1, "V", "one"),
    ]
    assert s.get("V2", version=1).json()["secret"]["secretValue"] == "one"
    assert s.get("V2", version=9).status_code == 404


def test_rollback_writes_a_new_version_with_the_old_content(s: Secrets, client: TestClient) -> None:
    created = s.ok("R", "good")
    s.update("R", secretValue="bad")
    rolled = client.post(
        f"/api/v1/secret/{created['id']}/secret-versions/rollback", json={"version": 1}, headers=s.headers
    )
    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["secret"]["version"], rolled.json()["secret"]["secretValue"]) == (3, "good")
    assert s.get("R").json()["secret"]["secretValue"] == "good"


def test_versions_move_with_the_secret(s: Secrets, client: TestClient) -> None:
    s.folder("app")
    created = s.ok("M", "one")
    s.update("M", secretValue="two")
    s.update("M", newSecretPath="/app")
    versions = client.get(f"/api/v1/secret/{created['id']}/secret-versions", headers=s.headers)
    assert [v["secretValue"] for v in versions.json()["secretVersions"]] == ["two", "two", "one"]


# --- batch ----------------------------------------------------------------------------------------


def test_batch_create_update_delete(s: Secrets, client: TestClient, admin: Admin) -> None:
    base = {"workspaceId": s.project_id, "environment": "dev", "secretPath": "/"}
    created = client.post(
        "/api/v3/secrets/batch/raw",
        json={
            **base,
            "secrets": [{"secretKey": "A", "secretValue": "1"}, {"secretKey": "B", "secretValue": "2"}],
        },
        headers=admin.headers,
    )
    assert created.status_code == 200, created.text
    assert [x["secretKey"] for x in created.json()["secrets"]] == ["A", "B"]
    updated = client.patch(
        "/api/v3/secrets/batch/raw",
        json={**base, "secrets": [{"secretKey": "A", "secretValue": "9"}]},
        headers=admin.headers,
    )
    assert updated.json()["secrets"][0]["secretValue"] == "9"
    deleted = client.request(
        "DELETE",
        "/api/v3/secrets/batch/raw",
        json={**base, "secrets": [{"secretKey": "A"}, {"secretKey": "B"}]},
        headers=admin.headers,
    )
    assert deleted.status_code == 200
    assert s.keys() == []


def test_batch_is_all_or_nothing(s: Secrets, client: TestClient, admin: Admin) -> None:
    items = [{"secretKey": f"K{i}", "secretValue": "v"} for i in range(5)] + [
        {"secretKey": "bad:name", "secretValue": "v"}
    ]
    body = {"workspaceId": s.project_id, "environment": "dev", "secrets": items}
    response = client.post("/api/v3/secrets/batch/raw", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert s.keys() == []


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a:b", "a\\b", "bad\u202ename", "zero\u200bwidth", "nul\x00", "tab\tname", "new\nline", "x" * 257],
    ids=["colon", "backslash", "rtl-override", "zero-width", "nul", "tab", "newline", "too-long"],
)
def test_invalid_secret_names_are_422(s: Secrets, name: str) -> None:
    response = s.client.post(
        f"{V3}/placeholder",
        json={"workspaceId": s.project_id, "environment": "dev", "secretValue": "v"},
        headers=s.headers,
    )
    assert response.status_code == 200
    assert s.update("placeholder", newSecretName=name).status_code == 422


@pytest.mark.parametrize("name", ["*", "?", "[a]", "{x,y}", "!(z)", "%", "_", "x' OR '1'='1", "pässwörd"])
def test_unusual_but_valid_names_are_stored_literally(s: Secrets, name: str) -> None:
    body = {"workspaceId": s.project_id, "environment": "dev", "secretValue": "v"}
    created = s.client.post(
        f"{V3}/{name.replace('%', '%25').replace('?', '%3F')}", json=body, headers=s.headers
    )
    assert created.status_code == 200, created.text
    assert created.json()["secret"]["secretKey"] == name
    assert s.keys() == [name]


def test_nfc_and_nfd_spellings_are_the_same_secret(s: Secrets) -> None:
    s.ok("caf\u00e9", "one")
    assert s.create("cafe\u0301", "two").status_code == 409


@pytest.mark.parametrize(
    "path",
    ["/app/../admin", "/app/./x", "..", "/a\\b", "/%2e%2e/admin", "/\uff0e\uff0e/admin", "/a b"],
    ids=["dotdot", "dot", "bare-dotdot", "backslash", "percent", "fullwidth", "space"],
)
def test_bad_paths_are_422_everywhere(s: Secrets, path: str) -> None:
    assert s.list(path=path).status_code == 422
    assert s.get("K", path=path).status_code == 422
    assert s.create("K", "v", path=path).status_code == 422


@pytest.mark.parametrize(
    "path", ["/app/", "app", "//app//", " /app "], ids=["trailing", "relative", "doubled", "spaces"]
)
def test_paths_are_normalised(s: Secrets, path: str) -> None:
    s.folder("app")
    s.ok("K", "v", path=path)
    assert s.get("K", path="/app").json()["secret"]["secretPath"] == "/app"


def test_oversized_value_is_413_and_not_echoed(s: Secrets, settings: Any) -> None:
    from tessera.secrets.names import MAX_VALUE_BYTES

    big = CANARY + "x" * MAX_VALUE_BYTES
    response = s.create("BIG", big)
    assert response.status_code == 413
    assert CANARY not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"secretValue": {"$gt": ""}},
        {"secretValue": ["a"]},
        {"secretPath": ["a", "b"]},
        {"environment": {"slug": "dev"}},
    ],
    ids=["value-object", "value-list", "path-list", "env-object"],
)
def test_type_confusion_is_422(s: Secrets, body: dict[str, Any]) -> None:
    full = {"workspaceId": s.project_id, "environment": "dev", "secretValue": "v", CANARY: CANARY, **body}
    response = s.client.post(f"{V3}/K", json=full, headers=s.headers)
    assert response.status_code == 422
    assert CANARY not in response.text


def test_values_never_reach_logs(s: Secrets, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s.ok("LOGGED", CANARY)
    s.get("LOGGED")
    s.update("LOGGED", secretValue=CANARY + "2")
    s.create("LOGGED", CANARY)
    s.create("x:y", CANARY)
    assert CANARY not in caplog.text


# --- permissions (real custom roles through the RBAC API) ------------------------------------------


@pytest.fixture
def limited(s: Secrets, client: TestClient, app: Any, admin: Admin) -> Secrets:
    """An identity that may read and write dev:/app/** except dev:/app/private/**."""
    s.folder("app")
    s.folder("private", path="/app")
    s.folder("admin")
    s.ok("DB_PW", "app-pw", path="/app")
    s.ok("K", "private-k", path="/app/private")
    s.ok("ROOT", "root-pw", path="/admin")
    s.ok("TOP", "top")
    rules = [
        app_rule(["read", "create", "edit", "delete"]),
        {
            **app_rule(["read", "describeSecret", "readValue", "edit", "delete"], glob="/app/private/**"),
            "inverted": True,
        },
    ]
    return s.as_(restricted_headers(client, app, admin, s.project_id, rules))


def test_limited_identity_reads_its_scope_only(limited: Secrets) -> None:
    assert limited.get("DB_PW", path="/app").json()["secret"]["secretValue"] == "app-pw"
    for name, path in (("K", "/app/private"), ("ROOT", "/admin"), ("TOP", "/")):
        assert limited.get(name, path=path).status_code == 403, (name, path)
    assert limited.get("NOPE", path="/admin").status_code == 403  # existence does not leak


def test_recursive_list_filters_instead_of_failing(limited: Secrets) -> None:
    response = limited.list(recursive="true")
    assert response.status_code == 200
    assert [(x["secretKey"], x["secretPath"]) for x in response.json()["secrets"]] == [("DB_PW", "/app")]
    assert limited.list(path="/app/private").status_code == 403
    assert limited.list(path="/admin").status_code == 403


def test_reference_to_an_unreadable_secret_is_403_without_leaking(limited: Secrets, s: Secrets) -> None:
    s.ok("LEAK", "${admin.admin.ROOT}", path="/app")
    response = limited.get("LEAK", path="/app", expandSecretReferences="true")
    assert response.status_code == 403
    assert "root-pw" not in response.text
    assert "ROOT" in response.json()["message"]
    listed = limited.list(path="/app", expandSecretReferences="true")
    assert listed.status_code == 403
    assert "root-pw" not in listed.text
    unexpanded = limited.get("LEAK", path="/app")
    assert unexpanded.json()["secret"]["secretValue"] == "${admin.admin.ROOT}"


def test_writes_outside_scope_are_refused_and_change_nothing(
    limited: Secrets, s: Secrets, client: TestClient
) -> None:
    assert limited.create("X", "v", path="/admin").status_code == 403
    assert limited.update("DB_PW", path="/app", newSecretPath="/admin").status_code == 403
    assert limited.update("K", path="/app/private", secretValue="owned").status_code == 403
    assert limited.delete("K", path="/app/private").status_code == 403
    items = [{"secretKey": f"N{i}", "secretValue": "v"} for i in range(3)] + [
        {"secretKey": "X", "secretValue": "v", "secretPath": "/admin"}
    ]
    body = {"workspaceId": s.project_id, "environment": "dev", "secretPath": "/app", "secrets": items}
    assert client.post("/api/v3/secrets/batch/raw", json=body, headers=limited.headers).status_code == 403
    assert s.keys(path="/app") == ["DB_PW"]
    assert s.get("K", path="/app/private").json()["secret"]["secretValue"] == "private-k"
    assert s.get("DB_PW", path="/app").status_code == 200


def test_history_is_scoped_like_reads(limited: Secrets, s: Secrets, client: TestClient) -> None:
    private = s.get("K", path="/app/private").json()["secret"]
    for call in (
        lambda: client.get(f"/api/v1/secret/{private['id']}/secret-versions", headers=limited.headers),
        lambda: client.post(
            f"/api/v1/secret/{private['id']}/secret-versions/rollback",
            json={"version": 1},
            headers=limited.headers,
        ),
    ):
        assert call().status_code == 403


def test_describe_only_role_sees_names_not_values(
    s: Secrets, client: TestClient, app: Any, admin: Admin
) -> None:
    s.folder("app")
    s.ok("DB_PW", "app-pw", path="/app")
    viewer = s.as_(
        restricted_headers(client, app, admin, s.project_id, [app_rule(["describeSecret"])], slug="describer")
    )
    secret = viewer.list(path="/app").json()["secrets"][0]
    assert (secret["secretKey"], secret["secretValue"], secret["secretValueHidden"]) == (
        "DB_PW",
        "<hidden-by-infisical>",
        True,
    )
    assert viewer.get("DB_PW", path="/app").json()["secret"]["secretValue"] == "<hidden-by-infisical>"


ROUTES = [
    ("list", "GET", V3, "describeSecret"),
    ("get", "GET", f"{V3}/K", "describeSecret"),
    ("create", "POST", f"{V3}/NEW", "create"),
    ("update", "PATCH", f"{V3}/K", "edit"),
    ("delete", "DELETE", f"{V3}/K", "delete"),
]


@pytest.mark.parametrize(("label", "method", "url", "action"), ROUTES, ids=[r[0] for r in ROUTES])
def test_every_route_asks_for_the_right_permission(
    s: Secrets, monkeypatch: pytest.MonkeyPatch, label: str, method: str, url: str, action: str
) -> None:
    from tessera.errors import PermissionDenied
    from tessera.rbac import service as rbac

    s.folder("app")
    s.ok("K", "v", path="/app")
    asked: list[tuple[str, str, str | None, str | None, str | None]] = []

    def deny(_session: Any, _principal: Any, _project: Any, act: str, subject: str, **fields: Any) -> None:
        asked.append(
            (act, subject, fields.get("environment"), fields.get("secret_path"), fields.get("secret_name"))
        )
        raise PermissionDenied(f"You are not allowed to {act} on {subject}")

    monkeypatch.setattr(rbac, "require_project", deny)
    params = {"workspaceId": s.project_id, "environment": "dev", "secretPath": "/app"}
    if method == "GET":
        response = s.client.get(url, params=params, headers=s.headers)
    else:
        response = s.client.request(method, url, json={**params, "secretValue": "x"}, headers=s.headers)
    assert response.status_code == 403, label
    assert asked[0][:4] == (action, "secrets", "dev", "/app")
    if label != "list":
        assert asked[0][4] in {"K", "NEW"}


# --- concurrency ----------------------------------------------------------------------------------


def test_concurrent_updates_never_lose_a_version(s: Secrets, client: TestClient, app: Any) -> None:
    import httpx

    from tests.factories_auth import all_at_once, serve

    created = s.ok("RACE", "start")
    with serve(app) as base_url, httpx.Client(base_url=base_url, headers=s.headers, timeout=60) as http:

        def write(i: int) -> tuple[int, str]:
            body = {
                "workspaceId": s.project_id,
                "environment": "dev",
                "secretPath": "/",
                "secretValue": f"v{i}",
            }
            return http.patch(f"{V3}/RACE", json=body).status_code, f"v{i}"

        results = all_at_once(10, write)
    assert {status for status, _ in results} <= {200, 409}
    acknowledged = [value for status, value in results if status == 200]
    assert acknowledged
    versions = client.get(
        f"/api/v1/secret/{created['id']}/secret-versions", params={"limit": 100}, headers=s.headers
    )
    assert len(versions.json()["secretVersions"]) == 1 + len(acknowledged)
    assert s.get("RACE").json()["secret"]["secretValue"] in acknowledged
