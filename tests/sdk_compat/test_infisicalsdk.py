"""The official `infisicalsdk` package (from PyPI) against a live server on 127.0.0.1.

Universal Auth login, then secrets, folders and KMS encrypt/decrypt exactly as the SDK sends
them (query booleans as "true"/"false", v2 folders with Python's `True`/`False`, nulls dropped).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Admin
from tests.factories_auth import serve, ua_identity

infisical_sdk = pytest.importorskip("infisical_sdk")


@pytest.fixture
def sdk(fast_passwords: None, client: TestClient, app: Any, admin: Admin) -> Any:
    _identity, client_id, client_secret = ua_identity(client, app, admin, role="admin")
    with serve(app) as base_url:
        sdk = infisical_sdk.InfisicalSDKClient(host=base_url, cache_ttl=None)
        login = sdk.auth.universal_auth.login(client_id=client_id, client_secret=client_secret)
        assert login.tokenType == "Bearer"
        yield sdk
        sdk.close()


def test_secrets(sdk: Any, project: dict[str, Any]) -> None:
    pid = project["id"]
    created = sdk.secrets.create_secret_by_name(
        secret_name="SDK_KEY",
        project_id=pid,
        secret_path="/",
        environment_slug="dev",
        secret_value="value-1",
        secret_comment="from the sdk",
    )
    assert (created.secretKey, created.secretValue, created.secretComment) == (
        "SDK_KEY",
        "value-1",
        "from the sdk",
    )
    assert created.id == created._id
    sdk.secrets.create_secret_by_name(
        secret_name="SDK_REF",
        project_id=pid,
        secret_path="/",
        environment_slug="dev",
        secret_value="<${SDK_KEY}>",
    )
    listed = sdk.secrets.list_secrets(project_id=pid, environment_slug="dev", secret_path="/")
    assert {s.secretKey: s.secretValue for s in listed.secrets} == {
        "SDK_KEY": "value-1",
        "SDK_REF": "<value-1>",
    }
    assert listed.imports == []
    by_slug = sdk.secrets.list_secrets(project_slug=project["slug"], environment_slug="dev", secret_path="/")
    assert len(by_slug.secrets) == 2
    got = sdk.secrets.get_secret_by_name(
        secret_name="SDK_KEY", project_id=pid, environment_slug="dev", secret_path="/"
    )
    assert got.secretValue == "value-1"
    updated = sdk.secrets.update_secret_by_name(
        current_secret_name="SDK_KEY",
        project_id=pid,
        secret_path="/",
        environment_slug="dev",
        secret_value="value-2",
        new_secret_name="SDK_KEY_2",
    )
    assert (updated.secretKey, updated.secretValue, updated.version) == ("SDK_KEY_2", "value-2", 2)
    old = sdk.secrets.get_secret_by_name(
        secret_name="SDK_KEY_2", project_id=pid, environment_slug="dev", secret_path="/", version="1"
    )
    assert old.secretValue == "value-1"
    deleted = sdk.secrets.delete_secret_by_name(
        secret_name="SDK_KEY_2", project_id=pid, environment_slug="dev", secret_path="/"
    )
    assert deleted.secretKey == "SDK_KEY_2"
    with pytest.raises(infisical_sdk.infisical_requests.APIError) as missing:
        sdk.secrets.get_secret_by_name(
            secret_name="SDK_KEY_2", project_id=pid, environment_slug="dev", secret_path="/"
        )
    assert missing.value.status_code == 404


def test_folders(sdk: Any, project: dict[str, Any]) -> None:
    pid = project["id"]
    folder = sdk.folders.create_folder(name="service", environment_slug="dev", project_id=pid, path="/")
    assert (folder.name, folder.path) == ("service", "/service")
    nested = sdk.folders.create_folder(name="db", environment_slug="dev", project_id=pid, path="/service")
    assert nested.parentId == folder.id
    listed = sdk.folders.list_folders(project_id=pid, environment_slug="dev", path="/")
    assert [f.name for f in listed.folders] == ["service"]
    deep = sdk.folders.list_folders(project_id=pid, environment_slug="dev", path="/", recursive=True)
    assert sorted(f.name for f in deep.folders) == ["db", "service"]
    got = sdk.folders.get_folder_by_id(id=nested.id)
    assert (got.path, got.environment.envSlug, got.projectId) == ("/service/db", "dev", pid)
    renamed = sdk.folders.update_folder(
        folder_id=folder.id, name="svc", environment_slug="dev", project_id=pid, path="/"
    )
    assert renamed.path == "/svc"
    sdk.secrets.create_secret_by_name(
        secret_name="IN_FOLDER",
        project_id=pid,
        secret_path="/svc/db",
        environment_slug="dev",
        secret_value="x",
    )
    everything = sdk.secrets.list_secrets(
        project_id=pid, environment_slug="dev", secret_path="/", recursive=True
    )
    assert [(s.secretKey, s.secretPath) for s in everything.secrets] == [("IN_FOLDER", "/svc/db")]
    removed = sdk.folders.delete_folder(
        folder_id_or_name="svc", environment_slug="dev", project_id=pid, path="/"
    )
    assert removed.id == folder.id
    assert sdk.folders.list_folders(project_id=pid, environment_slug="dev", path="/").folders == []


def test_kms(sdk: Any, project: dict[str, Any]) -> None:
    pid = project["id"]
    key = sdk.kms.create_key(
        name="sdk-key",
        project_id=pid,
        encryption_algorithm=infisical_sdk.api_types.SymmetricEncryption.AES_GCM_256,
        description="sdk",
    )
    assert (key.name, key.projectId, key.encryptionAlgorithm) == ("sdk-key", pid, "aes-256-gcm")
    assert sdk.kms.get_key_by_id(key_id=key.id).name == "sdk-key"
    assert sdk.kms.get_key_by_name(key_name="sdk-key", project_id=pid).id == key.id
    listed = sdk.kms.list_keys(project_id=pid)
    assert (listed.totalCount, [k.id for k in listed.keys]) == (1, [key.id])
    plaintext = base64.b64encode(b"hello from the sdk").decode()
    ciphertext = sdk.kms.encrypt_data(key_id=key.id, base64EncodedPlaintext=plaintext)
    assert sdk.kms.decrypt_data(key_id=key.id, ciphertext=ciphertext) == plaintext
    updated = sdk.kms.update_key(key_id=key.id, description="changed")
    assert updated.description == "changed"
    assert sdk.kms.delete_key(key_id=key.id).id == key.id
    assert sdk.kms.list_keys(project_id=pid).totalCount == 0
