"""Secrets, folders and KMS calls: the exact requests sent and the typed results."""

from __future__ import annotations

import pytest

from tessera_sdk import Client, NotFoundError, TesseraError, TokenAuth, ValidationError
from tessera_sdk.client import normalize_site_url
from tests.sdk.fakes import Call, FakeTessera, Reply, Router


@pytest.fixture
def api() -> FakeTessera:
    api = FakeTessera()
    api.put("proj", "dev", "/", "DB_URL", "postgres://db", "primary")
    api.put("proj", "dev", "/", "API_KEY", "k-123")
    return api


@pytest.fixture
def client(api: FakeTessera) -> Client:
    return Client("https://tessera.test/api/", auth=TokenAuth(api.issue()), transport=api.transport())


def test_list_sends_wire_params_and_parses(api: FakeTessera, client: Client) -> None:
    result = client.secrets.list("proj", "dev", "/", recursive=True, tag_slugs=["a", "b"])
    call = api.calls[-1]
    assert call.query == {
        "projectId": "proj",
        "environment": "dev",
        "secretPath": "/",
        "recursive": "true",
        "expandSecretReferences": "true",
        "includeImports": "false",
        "include_imports": "false",
        "tagSlugs": "a,b",
    }
    assert [s.key for s in result.secrets] == ["API_KEY", "DB_URL"]
    assert result.secrets[1].value == "postgres://db"
    assert result.secrets[1].comment == "primary"
    assert result.as_dict() == {"API_KEY": "k-123", "DB_URL": "postgres://db"}
    assert result.etag


def test_list_with_matching_etag_is_not_modified(api: FakeTessera, client: Client) -> None:
    first = client.secrets.list("proj", "dev")
    again = client.secrets.list("proj", "dev", if_none_match=first.etag)
    assert api.calls[-1].headers["if-none-match"] == first.etag
    assert again.not_modified
    assert again.secrets == []
    assert again.etag == first.etag
    api.put("proj", "dev", "/", "API_KEY", "rotated")
    changed = client.secrets.list("proj", "dev", if_none_match=first.etag)
    assert not changed.not_modified
    assert changed.as_dict()["API_KEY"] == "rotated"


def test_get_create_update_delete(api: FakeTessera, client: Client) -> None:
    assert client.secrets.get("DB_URL", "proj", "dev").value == "postgres://db"
    assert api.calls[-1].query["type"] == "shared"
    created = client.secrets.create("NEW", "v1", "proj", "dev", comment="c")
    assert api.calls[-1].json() == {
        "projectId": "proj",
        "environment": "dev",
        "secretPath": "/",
        "secretValue": "v1",
        "secretComment": "c",
        "type": "shared",
    }
    assert (created.key, created.value, created.version) == ("NEW", "v1", 1)
    updated = client.secrets.update("NEW", "proj", "dev", value="v2")
    assert api.calls[-1].method == "PATCH"
    assert "secretComment" not in api.calls[-1].json()
    assert (updated.value, updated.version) == ("v2", 2)
    deleted = client.secrets.delete("NEW", "proj", "dev")
    assert api.calls[-1].json() == {
        "projectId": "proj",
        "environment": "dev",
        "secretPath": "/",
        "type": "shared",
    }
    assert deleted.key == "NEW"
    with pytest.raises(NotFoundError, match="Secret not found"):
        client.secrets.get("NEW", "proj", "dev")


def test_create_existing_is_validation_error(client: Client) -> None:
    with pytest.raises(ValidationError, match="already exist"):
        client.secrets.create("DB_URL", "x", "proj", "dev")


def test_names_cannot_escape_the_route(api: FakeTessera, client: Client) -> None:
    seen: list[str] = []
    api.add("GET", r"/api/v4/secrets/.*", lambda call: (seen.append(call.path), Reply(404, {}))[1])
    with pytest.raises(NotFoundError):
        client.secrets.get("../../v1/kms/keys", "proj", "dev")
    assert seen == ["/api/v4/secrets/../../v1/kms/keys"]  # one segment, escaped on the wire


def test_hidden_values_are_none() -> None:
    router = Router()
    hidden = {"secretKey": "K", "secretValue": "<hidden-by-infisical>", "secretValueHidden": True}
    router.add("GET", r"/api/v4/secrets", lambda call: Reply(200, {"secrets": [hidden]}))
    with Client("https://t.test", auth=TokenAuth("t"), transport=router.transport()) as client:
        result = client.secrets.list("p", "dev")
    assert result.secrets[0].value is None
    assert result.as_dict() == {}


def test_imports_merge_under_local_values() -> None:
    router = Router()
    body = {
        "secrets": [{"secretKey": "A", "secretValue": "local"}],
        "imports": [
            {
                "secretPath": "/shared",
                "environment": "dev",
                "secrets": [
                    {"secretKey": "A", "secretValue": "imported"},
                    {"secretKey": "B", "secretValue": "b"},
                ],
            }
        ],
    }
    router.add("GET", r"/api/v4/secrets", lambda call: Reply(200, body))
    with Client("https://t.test", auth=TokenAuth("t"), transport=router.transport()) as client:
        assert client.secrets.list("p", "dev", include_imports=True).as_dict() == {"A": "local", "B": "b"}


def test_approval_answer_is_an_error() -> None:
    router = Router()
    router.add("PATCH", r"/api/v4/secrets/K", lambda call: Reply(200, {"approval": {"id": "a"}}))
    with (
        Client("https://t.test", auth=TokenAuth("t"), transport=router.transport()) as client,
        pytest.raises(TesseraError, match="approval"),
    ):
        client.secrets.update("K", "p", "dev", value="x")


def test_folders() -> None:
    router = Router()
    folder = {"id": "f1", "name": "app", "path": "/app", "parentId": "root"}
    router.add("GET", r"/api/v2/folders", lambda call: Reply(200, {"folders": [folder]}))
    router.add("POST", r"/api/v2/folders", lambda call: Reply(200, {"folder": folder}))
    router.add("DELETE", r"/api/v2/folders/app", lambda call: Reply(200, {"folder": folder}))
    with Client("https://t.test", auth=TokenAuth("t"), transport=router.transport()) as client:
        listed = client.folders.list("p", "dev", "/", recursive=True)
        created = client.folders.create("app", "p", "dev", "/", description="d")
        deleted = client.folders.delete("app", "p", "dev")
    assert listed[0].parent_id == "root"
    assert router.calls[0].query == {"projectId": "p", "environment": "dev", "path": "/", "recursive": "true"}
    assert router.calls[1].json() == {
        "projectId": "p",
        "environment": "dev",
        "name": "app",
        "path": "/",
        "description": "d",
    }
    assert created.path == deleted.path == "/app"


def test_kms_round_trip(api: FakeTessera, client: Client) -> None:
    ciphertext = client.kms.encrypt("key-1", b"\x00binary\xff")
    assert api.calls[-1].path == "/api/v1/kms/keys/key-1/encrypt"
    assert client.kms.decrypt("key-1", ciphertext) == b"\x00binary\xff"


def test_kms_key_management() -> None:
    router = Router()
    key = {
        "id": "k1",
        "name": "signing",
        "projectId": "p",
        "orgId": "o",
        "isDisabled": False,
        "version": 1,
        "encryptionAlgorithm": "aes-256-gcm",
    }

    def keys(call: Call) -> Reply:
        return Reply(200, {"keys": [key], "totalCount": 1})

    router.add("GET", r"/api/v1/kms/keys", keys)
    router.add("GET", r"/api/v1/kms/keys/k1", lambda call: Reply(200, {"key": key}))
    router.add("GET", r"/api/v1/kms/keys/key-name/signing", lambda call: Reply(200, {"key": key}))
    router.add("POST", r"/api/v1/kms/keys", lambda call: Reply(200, {"key": key}))
    router.add("DELETE", r"/api/v1/kms/keys/k1", lambda call: Reply(200, {"key": key}))
    with Client("https://t.test", auth=TokenAuth("t"), transport=router.transport()) as client:
        assert client.kms.list_keys("p")[0].project_id == "p"
        assert client.kms.get_key("k1").name == "signing"
        assert client.kms.get_key_by_name("signing", "p").id == "k1"
        assert client.kms.create_key("signing", "p").encryption_algorithm == "aes-256-gcm"
        assert client.kms.delete_key("k1").id == "k1"
    assert router.calls[3].json() == {
        "projectId": "p",
        "name": "signing",
        "keyUsage": "encrypt-decrypt",
        "encryptionAlgorithm": "aes-256-gcm",
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://h.example", "https://h.example"),
        ("https://h.example/", "https://h.example"),
        ("https://h.example/api", "https://h.example"),
        (" http://127.0.0.1:8080/api/ ", "http://127.0.0.1:8080"),
    ],
)
def test_site_url_normalisation(given: str, expected: str) -> None:
    assert normalize_site_url(given) == expected


def test_site_url_needs_a_scheme() -> None:
    with pytest.raises(ValueError, match="http"):
        normalize_site_url("tessera.example")
