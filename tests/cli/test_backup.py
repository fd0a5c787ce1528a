"""`tessera backup` / `tessera restore`: consistent SQLite snapshots taken while the server writes,
restores verified by decrypting every secret and KMS key, and the refusals (PostgreSQL, wrong key,
tampered or newer backups, existing files) that keep a restore from making things worse."""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import stat
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from tessera.app import create_app
from tessera.cli.main import app as cli
from tessera.clock import FrozenClock
from tessera.store.engine import make_engine
from tests.conftest import BOOTSTRAP_BODY, CLIENT_ADDR, TEST_AUTH_SECRET, TEST_ROOT_KEY, make_settings

CANARY = "canary-value-7f3a9c"
KMS_KEYS = "/api/v1/kms/keys"
# One key of each kind the verification treats differently (ECC rather than RSA: same checks, faster).
KMS_ALGORITHMS = {"vault": ("encrypt-decrypt", "aes-256-gcm"), "signer": ("sign-verify", "ECC_NIST_P256")}
OTHER_ROOT_KEY = base64.b64encode(b"o" * 32).decode()


def invoke(args: list[str], database_url: str, data_dir: Path, **env: str) -> Result:
    values: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TESSERA_")}
    values |= {
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_DATA_DIR": str(data_dir),
        "TESSERA_ROOT_KEY": TEST_ROOT_KEY,
        "TESSERA_AUTH_SECRET": TEST_AUTH_SECRET,
    }
    values.update(env)
    return CliRunner().invoke(cli, args, env=values)


def said(result: Result) -> str:
    return " ".join(result.output.split())


@dataclass
class Instance:
    """A populated embedded database and what a restore must bring back."""

    path: Path
    url: str
    data_dir: Path
    admin_token: str
    project_id: str
    live_token: str
    revoked_token: str
    identity_id: str
    kms_key_ids: dict[str, str]  # name -> id
    kms_ciphertext: str  # made by the "vault" key before the backup

    def files(self) -> list[Path]:
        return [self.path.with_name(self.path.name + suffix) for suffix in ("", "-wal", "-shm")]


def _secrets(client: TestClient, token: str, project_id: str) -> dict[str, str]:
    response = client.get(
        "/api/v3/secrets/raw",
        params={"workspaceId": project_id, "environment": "dev", "secretPath": "/"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return {item["secretKey"]: item["secretValue"] for item in response.json()["secrets"]}


def _app(instance_url: str, data_dir: Path, clock: FrozenClock) -> Any:
    return create_app(make_settings(instance_url, data_dir), clock=clock, engine=make_engine(instance_url))


@pytest.fixture
def instance(sqlite_template: Path, tmp_path: Path, clock: FrozenClock) -> Instance:
    path = tmp_path / "live" / "tessera.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    app = _app(url, tmp_path / "data", clock)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        boot = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY).json()
        admin = {"Authorization": f"Bearer {boot['identity']['credentials']['token']}"}
        project_id = client.post("/api/v2/workspace", json={"projectName": "P"}, headers=admin).json()[
            "project"
        ]["id"]
        for index in range(5):
            body = {"workspaceId": project_id, "environment": "dev", "secretValue": f"{CANARY}-{index}"}
            assert (
                client.post(f"/api/v3/secrets/raw/KEY_{index}", json=body, headers=admin).status_code == 200
            )
        update = {"workspaceId": project_id, "environment": "dev", "secretValue": f"{CANARY}-updated"}
        assert client.patch("/api/v3/secrets/raw/KEY_0", json=update, headers=admin).status_code == 200
        identity_id = boot["identity"]["id"]
        auth = f"/api/v1/auth/token-auth/identities/{identity_id}"
        assert client.post(auth, json={}, headers=admin).status_code == 200
        tokens = [
            client.post(f"{auth}/tokens", json={}, headers=admin).json()["accessToken"] for _ in range(2)
        ]
        revoked = client.post("/api/v1/auth/token/revoke", json={"accessToken": tokens[1]})
        assert revoked.status_code == 200
        kms_key_ids = _create_kms_keys(client, admin, project_id)
        encrypted = client.post(
            f"{KMS_KEYS}/{kms_key_ids['vault']}/encrypt",
            json={"plaintext": base64.b64encode(CANARY.encode()).decode()},
            headers=admin,
        )
        assert encrypted.status_code == 200, encrypted.text
    return Instance(
        path=path,
        url=url,
        data_dir=tmp_path / "data",
        admin_token=boot["identity"]["credentials"]["token"],
        project_id=project_id,
        live_token=tokens[0],
        revoked_token=tokens[1],
        identity_id=identity_id,
        kms_key_ids=kms_key_ids,
        kms_ciphertext=encrypted.json()["ciphertext"],
    )


def _create_kms_keys(client: TestClient, admin: dict[str, str], project_id: str) -> dict[str, str]:
    ids = {}
    for name, (usage, algorithm) in KMS_ALGORITHMS.items():
        body = {"projectId": project_id, "name": name, "keyUsage": usage, "encryptionAlgorithm": algorithm}
        created = client.post(KMS_KEYS, json=body, headers=admin)
        assert created.status_code == 200, created.text
        ids[name] = created.json()["key"]["id"]
    return ids


def expected_secrets() -> dict[str, str]:
    return {"KEY_0": f"{CANARY}-updated"} | {f"KEY_{i}": f"{CANARY}-{i}" for i in range(1, 5)}


# --- round trip -----------------------------------------------------------------------------------


def test_rl13_backup_wipe_restore_round_trip(instance: Instance, tmp_path: Path, clock: FrozenClock) -> None:
    target = tmp_path / "backups" / "tessera.backup"
    result = invoke(["backup", str(target)], instance.url, instance.data_dir)
    assert result.exit_code == 0, result.output
    assert "2 KMS key(s), 5 secret(s) and 6 secret version(s) checked; 0 could not be decrypted" in said(
        result
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not target.with_name(target.name + "-wal").exists()
    # LK-3: nothing of any secret value is in the backup in the clear.
    assert CANARY.encode() not in target.read_bytes()

    for file in instance.files():
        file.unlink(missing_ok=True)
    result = invoke(["restore", str(target), "--yes"], instance.url, instance.data_dir)
    assert result.exit_code == 0, result.output
    assert "restored" in said(result)

    app = _app(instance.url, tmp_path / "data", clock)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        assert _secrets(client, instance.admin_token, instance.project_id) == expected_secrets()
        probe = f"/api/v1/identities/{instance.identity_id}/tokens"
        assert (
            client.get(probe, headers={"Authorization": f"Bearer {instance.live_token}"}).status_code == 200
        )
        revoked = client.get(probe, headers={"Authorization": f"Bearer {instance.revoked_token}"})
        assert revoked.status_code == 401
        decrypted = client.post(
            f"{KMS_KEYS}/{instance.kms_key_ids['vault']}/decrypt",
            json={"ciphertext": instance.kms_ciphertext},
            headers={"Authorization": f"Bearer {instance.admin_token}"},
        )
        assert decrypted.status_code == 200, decrypted.text
        assert base64.b64decode(decrypted.json()["plaintext"]) == CANARY.encode()


def test_restore_over_a_live_database_keeps_the_previous_contents(
    instance: Instance, tmp_path: Path, clock: FrozenClock
) -> None:
    target = tmp_path / "b.backup"
    assert invoke(["backup", str(target)], instance.url, instance.data_dir).exit_code == 0
    app = _app(instance.url, tmp_path / "data", clock)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {instance.admin_token}"}
        body = {"workspaceId": instance.project_id, "environment": "dev", "secretValue": "after the backup"}
        assert client.post("/api/v3/secrets/raw/LATE", json=body, headers=headers).status_code == 200
    result = invoke(["restore", str(target), "--yes"], instance.url, instance.data_dir)
    assert result.exit_code == 0, result.output
    saved = [p for p in instance.path.parent.iterdir() if ".pre-restore-" in p.name]
    assert len(saved) == 1
    assert stat.S_IMODE(saved[0].stat().st_mode) == 0o600
    app = _app(instance.url, tmp_path / "data", clock)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        assert "LATE" not in _secrets(client, instance.admin_token, instance.project_id)


def test_restore_asks_before_replacing(instance: Instance, tmp_path: Path) -> None:
    target = tmp_path / "b.backup"
    assert invoke(["backup", str(target)], instance.url, instance.data_dir).exit_code == 0
    before = instance.path.read_bytes()
    values = {
        "TESSERA_DATABASE_URL": instance.url,
        "TESSERA_DATA_DIR": str(instance.data_dir),
        "TESSERA_ROOT_KEY": TEST_ROOT_KEY,
    }
    result = CliRunner().invoke(cli, ["restore", str(target)], env=values, input="n\n")
    assert result.exit_code != 0
    assert instance.path.read_bytes() == before


@pytest.mark.slow
def test_online_backups_while_the_server_writes_are_consistent(
    instance: Instance, tmp_path: Path, clock: FrozenClock
) -> None:
    app = _app(instance.url, tmp_path / "data", clock)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
            headers = {"Authorization": f"Bearer {instance.admin_token}"}
            index = 0
            while not stop.is_set():
                body = {"workspaceId": instance.project_id, "environment": "dev", "secretValue": f"w{index}"}
                if (
                    client.post(f"/api/v3/secrets/raw/W_{index}", json=body, headers=headers).status_code
                    == 200
                ):
                    written.append(index)
                patch = {"workspaceId": instance.project_id, "environment": "dev", "secretValue": f"u{index}"}
                client.patch("/api/v3/secrets/raw/KEY_1", json=patch, headers=headers)
                index += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        counts = []
        for round_ in range(4):
            target = tmp_path / f"online-{round_}.backup"
            result = invoke(["backup", str(target)], instance.url, instance.data_dir)
            assert result.exit_code == 0, result.output
            assert "0 could not be decrypted" in said(result)
            with closing(sqlite3.connect(target)) as copy:
                counts.append(copy.execute("SELECT count(*) FROM secrets").fetchone()[0])
    finally:
        stop.set()
        thread.join(timeout=30)
    assert written, "the writer made no progress"
    assert counts == sorted(counts)  # later snapshots never lose what earlier ones had


# --- refusals ------------------------------------------------------------------------------------


def test_restore_refuses_a_backup_the_configured_keys_cannot_open(instance: Instance, tmp_path: Path) -> None:
    target = tmp_path / "b.backup"
    assert invoke(["backup", str(target)], instance.url, instance.data_dir).exit_code == 0
    before = instance.path.read_bytes()
    result = invoke(
        ["restore", str(target), "--yes"], instance.url, instance.data_dir, TESSERA_ROOT_KEY=OTHER_ROOT_KEY
    )
    assert result.exit_code == 1
    assert "cannot be decrypted with the configured root keys" in said(result)
    assert instance.path.read_bytes() == before


def test_restore_refuses_a_backup_with_a_tampered_secret(instance: Instance, tmp_path: Path) -> None:
    target = tmp_path / "b.backup"
    assert invoke(["backup", str(target)], instance.url, instance.data_dir).exit_code == 0
    with closing(sqlite3.connect(target)) as copy:
        secret_id, blob = copy.execute("SELECT id, ciphertext FROM secrets LIMIT 1").fetchone()
        tampered = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
        copy.execute("UPDATE secrets SET ciphertext = ? WHERE id = ?", (tampered, secret_id))
        copy.commit()
    before = instance.path.read_bytes()
    result = invoke(["restore", str(target), "--yes"], instance.url, instance.data_dir)
    assert result.exit_code == 1
    assert f"secret {secret_id}" in said(result)
    assert "the backup did not verify" in said(result)
    assert instance.path.read_bytes() == before


def _corrupt_kms_key(backup: Path, key_id: str, column: str) -> None:
    """Flip one bit of one KMS key's `column` in the backup file."""
    with closing(sqlite3.connect(backup)) as copy:
        (blob,) = copy.execute(f"SELECT {column} FROM kms_keys WHERE id = ?", (key_id,)).fetchone()  # noqa: S608 - column is ours
        damaged = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
        copy.execute(f"UPDATE kms_keys SET {column} = ? WHERE id = ?", (damaged, key_id))  # noqa: S608
        copy.commit()


@pytest.mark.parametrize(
    ("name", "column"),
    [("vault", "sealed_material"), ("signer", "sealed_material"), ("signer", "public_key")],
    ids=["symmetric-material", "asymmetric-material", "public-key"],
)
def test_restore_refuses_a_backup_with_a_corrupted_kms_key(
    instance: Instance, tmp_path: Path, name: str, column: str
) -> None:
    target = tmp_path / "b.backup"
    assert invoke(["backup", str(target)], instance.url, instance.data_dir).exit_code == 0
    key_id = instance.kms_key_ids[name]
    _corrupt_kms_key(target, key_id, column)
    before = instance.path.read_bytes()
    result = invoke(["restore", str(target), "--yes"], instance.url, instance.data_dir)
    assert result.exit_code == 1, result.output
    assert "2 KMS key(s), 5 secret(s) and 6 secret version(s) checked; 1 could not be decrypted" in said(
        result
    )
    assert f"KMS key {key_id}" in said(result)
    assert "the backup did not verify" in said(result)
    assert instance.path.read_bytes() == before


def test_backup_of_a_database_with_a_corrupted_kms_key_fails_verification(
    instance: Instance, tmp_path: Path
) -> None:
    _corrupt_kms_key(instance.path, instance.kms_key_ids["vault"], "sealed_material")
    result = invoke(["backup", str(tmp_path / "b.backup")], instance.url, instance.data_dir)
    assert result.exit_code == 1, result.output
    assert f"KMS key {instance.kms_key_ids['vault']}" in said(result)
    assert "the backup did not verify" in said(result)


def test_restore_refuses_a_damaged_file(instance: Instance, tmp_path: Path) -> None:
    target = tmp_path / "junk.backup"
    target.write_bytes(b"not a database" * 100)
    result = invoke(["restore", str(target), "--yes"], instance.url, instance.data_dir)
    assert result.exit_code == 1
    assert "is not an SQLite database" in said(result)


def test_restore_refuses_a_backup_from_a_newer_version(instance: Instance, tmp_path: Path) -> None:
    target = tmp_path / "b.backup"
    assert invoke(["backup", str(target)], instance.url, instance.data_dir).exit_code == 0
    with closing(sqlite3.connect(target)) as copy:
        copy.execute("UPDATE alembic_version SET version_num = '9999'")
        copy.commit()
    result = invoke(["restore", str(target), "--yes"], instance.url, instance.data_dir)
    assert result.exit_code == 2
    assert "newer than this version" in said(result)


def test_backup_never_overwrites(instance: Instance, tmp_path: Path) -> None:
    target = tmp_path / "exists.backup"
    target.write_bytes(b"keep me")
    result = invoke(["backup", str(target)], instance.url, instance.data_dir)
    assert result.exit_code == 1
    assert target.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".exists")] == []


def test_postgresql_backup_and_restore_print_guidance_and_refuse(tmp_path: Path) -> None:
    url = "postgresql+psycopg://tessera:hunter2@db.internal:5432/tessera"
    for args in (["backup", str(tmp_path / "x")], ["restore", str(tmp_path / "x"), "--yes"]):
        result = invoke(args, url, tmp_path)
        assert result.exit_code == 2
        text = said(result)
        assert "pg_dump --format=custom" in text
        assert "pg_restore" in text
        assert "tessera restore --check" in text
        assert "hunter2" not in text
        assert not (tmp_path / "x").exists()


# --- checking a configured database (after pg_restore, or any time) -------------------------------


def test_check_verifies_the_configured_database(db_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    settings = make_settings(db_url, tmp_path / "data")
    app = create_app(settings, clock=clock, engine=make_engine(db_url))
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        boot = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY).json()
        admin = {"Authorization": f"Bearer {boot['identity']['credentials']['token']}"}
        project = client.post("/api/v2/workspace", json={"projectName": "P"}, headers=admin).json()
        body = {"workspaceId": project["project"]["id"], "environment": "dev", "secretValue": CANARY}
        assert client.post("/api/v3/secrets/raw/A", json=body, headers=admin).status_code == 200
    result = invoke(["restore", "--check"], db_url, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert "1 secret(s) and 1 secret version(s) checked; 0 could not be decrypted" in said(result)
    wrong = invoke(["restore", "--check"], db_url, tmp_path / "data", TESSERA_ROOT_KEY=OTHER_ROOT_KEY)
    assert wrong.exit_code == 1
    assert "TESSERA_PREVIOUS_ROOT_KEYS" in said(wrong)
