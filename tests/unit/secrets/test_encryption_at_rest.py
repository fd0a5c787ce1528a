"""Encryption at rest against a real database: nothing in the clear, tampering and moved rows
fail loudly, root-key rotation re-seals data keys while servers keep answering."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tessera.app import create_app
from tessera.clock import FrozenClock
from tessera.crypto.keyring import Keyring, UnknownRootKey, key_id
from tessera.secrets.datakeys import rotate_data_keys
from tessera.secrets.models import ProjectDataKey, Secret, SecretFolder, SecretVersion
from tessera.store.engine import make_session_factory
from tessera.store.registry import Base
from tests.api.secrets_support import Secrets
from tests.conftest import CLIENT_ADDR, TEST_ROOT_KEY, Admin, make_settings

CANARY_NAME = "CANARY_NAME_Hq2"
CANARY_VALUE = "canary-value-Tz9pW4"
CANARY_COMMENT = "canary-comment-Lm3"
NEW_ROOT_KEY = base64.b64encode(b"n" * 32).decode()
RANDOM_ROOT_KEY = base64.b64encode(b"z" * 32).decode()


@pytest.fixture
def s(fast_passwords: None, client: TestClient, admin: Admin, project: dict[str, Any]) -> Secrets:
    return Secrets(client, project["id"], admin.headers)


@contextmanager
def app_with(
    engine: Engine, db_url: str, tmp_path: Path, clock: FrozenClock, **keys: Any
) -> Iterator[TestClient]:
    settings = make_settings(db_url, tmp_path / "other", **keys)
    with TestClient(create_app(settings, clock=clock, engine=engine), client=CLIENT_ADDR) as client:
        yield client


def _dump(engine: Engine) -> str:
    """Every row of every table, as text (bytes shown as latin-1 so embedded text is visible)."""
    parts = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    is_bytes = isinstance(value, bytes | memoryview)
                    parts.append(bytes(value).decode("latin-1") if is_bytes else str(value))
    return "\n".join(parts)


def test_the_database_holds_no_plaintext(s: Secrets, engine: Engine, db_url: str) -> None:
    s.ok(CANARY_NAME, CANARY_VALUE, secretComment=CANARY_COMMENT)
    s.update(CANARY_NAME, secretValue=CANARY_VALUE + "-v2")
    dump = _dump(engine)
    for canary in (CANARY_NAME, CANARY_VALUE, CANARY_COMMENT):
        assert canary not in dump
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        for canary in (CANARY_NAME, CANARY_VALUE, CANARY_COMMENT):
            assert canary.encode() not in raw


def test_data_key_is_sealed_under_the_root_key_id(s: Secrets, engine: Engine) -> None:
    s.ok("K", "v")
    with Session(engine) as session:
        row = session.scalars(select(ProjectDataKey)).one()
    assert row.root_key_id == key_id(base64.b64decode(TEST_ROOT_KEY))
    assert len(row.sealed_key) == 1 + 12 + 32 + 16


def _flip_last_byte(engine: Engine) -> None:
    with engine.begin() as conn:
        blob = conn.execute(text("SELECT ciphertext FROM secrets")).scalar_one()
        flipped = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
        conn.execute(text("UPDATE secrets SET ciphertext = :b"), {"b": flipped})


def test_tampered_ciphertext_fails_clearly_and_returns_nothing(s: Secrets, engine: Engine) -> None:
    s.ok("T", CANARY_VALUE)
    _flip_last_byte(engine)
    for response in (s.get("T"), s.list()):
        assert response.status_code == 500
        body = response.json()
        assert body["error"] == "DecryptionFailed"
        assert "integrity check" in body["message"]
        assert CANARY_VALUE not in response.text


def test_a_row_moved_to_another_folder_does_not_decrypt(s: Secrets, engine: Engine) -> None:
    s.folder("public")
    s.folder("admin")
    s.ok("ROOT", CANARY_VALUE, path="/admin")
    with Session(engine) as session, session.begin():
        public = session.scalars(select(SecretFolder).where(SecretFolder.path == "/public")).one()
        session.execute(update(Secret).values(folder_id=public.id))
    response = s.get("ROOT", path="/public")
    assert response.status_code == 500
    assert response.json()["error"] == "DecryptionFailed"
    assert CANARY_VALUE not in response.text


def test_swapped_ciphertexts_and_replayed_versions_do_not_decrypt(s: Secrets, engine: Engine) -> None:
    s.ok("A", "a-value")
    s.ok("B", "b-value")
    with Session(engine) as session, session.begin():
        a, b = sorted(session.scalars(select(Secret)), key=lambda r: r.created_at)[:2]
        a.ciphertext, b.ciphertext = b.ciphertext, a.ciphertext
    assert s.get("A").status_code == 500
    assert s.get("B").status_code == 500


def test_an_old_version_copied_over_the_live_row_does_not_decrypt(s: Secrets, engine: Engine) -> None:
    s.ok("R", "old")
    s.update("R", secretValue="new")
    with Session(engine) as session, session.begin():
        first = session.scalars(select(SecretVersion).where(SecretVersion.version == 1)).one()
        session.execute(update(Secret).values(ciphertext=first.ciphertext))
    assert s.get("R").status_code == 500


# --- root-key rotation ----------------------------------------------------------------------------


def _second_project(client: TestClient, admin: Admin) -> Secrets:
    created = client.post("/api/v2/workspace", json={"projectName": "Second"}, headers=admin.headers)
    return Secrets(client, created.json()["project"]["id"], admin.headers)


def _root_key_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(ProjectDataKey.root_key_id)))


def test_rotation_without_downtime(
    s: Secrets,
    client: TestClient,
    admin: Admin,
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    clock: FrozenClock,
) -> None:
    other = _second_project(client, admin)
    s.ok("ONE", "1")
    other.ok("TWO", "2")
    old_id, new_id = key_id(b"r" * 32), key_id(b"n" * 32)
    assert _root_key_ids(engine) == [old_id, old_id]
    with app_with(
        engine, db_url, tmp_path, clock, root_key=NEW_ROOT_KEY, previous_root_keys=TEST_ROOT_KEY
    ) as new:
        a, b = s.as_(admin.headers), other.as_(admin.headers)
        a.client = b.client = new
        keyring = Keyring(b"n" * 32, [b"r" * 32])
        # Half way: one project re-sealed, one not; the new server reads both.
        with Session(engine) as session, session.begin():
            first = session.scalars(select(ProjectDataKey).order_by(ProjectDataKey.id)).first()
            assert first is not None
            from tessera.crypto import envelope
            from tessera.crypto.keyring import Sealed

            aad = envelope.bind("tessera:project-data-key:v1", first.project_id)
            sealed = keyring.seal(keyring.unseal(Sealed(first.root_key_id, first.sealed_key), aad), aad)
            first.root_key_id, first.sealed_key = sealed.key_id, sealed.blob
        assert sorted(_root_key_ids(engine)) == sorted([old_id, new_id])
        assert a.get("ONE").json()["secret"]["secretValue"] == "1"
        assert b.get("TWO").json()["secret"]["secretValue"] == "2"
        # The already-running old server keeps answering from its cached data keys.
        assert s.get("ONE").json()["secret"]["secretValue"] == "1"
        report = rotate_data_keys(make_session_factory(engine), keyring, now=clock.now(), batch_size=1)
        assert (report.resealed, report.already_current) == (1, 1)
        assert _root_key_ids(engine) == [new_id, new_id]
        assert a.get("ONE").json()["secret"]["secretValue"] == "1"
        b.ok("THREE", "3")
    with app_with(engine, db_url, tmp_path, clock, root_key=NEW_ROOT_KEY) as new_only:
        assert Secrets(new_only, other.project_id, admin.headers).keys() == ["THREE", "TWO"]


def test_rotation_refuses_when_an_old_key_is_missing_and_changes_nothing(
    s: Secrets, engine: Engine, clock: FrozenClock
) -> None:
    s.ok("K", "v")
    before = _root_key_ids(engine)
    with pytest.raises(UnknownRootKey, match="not configured"):
        rotate_data_keys(make_session_factory(engine), Keyring(b"n" * 32), now=clock.now())
    assert _root_key_ids(engine) == before


def test_a_server_with_an_unknown_root_key_refuses_to_start(
    s: Secrets, engine: Engine, db_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    s.ok("K", "v")
    with (
        pytest.raises(UnknownRootKey, match="do not open this database"),
        app_with(engine, db_url, tmp_path, clock, root_key=RANDOM_ROOT_KEY),
    ):
        pass


def test_keys_rotate_command(
    s: Secrets, engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.cli.main import app as cli

    s.ok("K", "v")
    monkeypatch.setenv("TESSERA_DATABASE_URL", db_url)
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("TESSERA_ROOT_KEY", NEW_ROOT_KEY)
    monkeypatch.setenv("TESSERA_PREVIOUS_ROOT_KEYS", TEST_ROOT_KEY)
    result = CliRunner().invoke(cli, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-sealed 1 data key(s)" in result.output
    assert _root_key_ids(engine) == [key_id(b"n" * 32)]
    again = CliRunner().invoke(cli, ["keys", "rotate"])
    assert "re-sealed 0 data key(s)" in again.output
    monkeypatch.setenv("TESSERA_PREVIOUS_ROOT_KEYS", "")
    monkeypatch.setenv("TESSERA_ROOT_KEY", RANDOM_ROOT_KEY)
    refused = CliRunner().invoke(cli, ["keys", "rotate"])
    assert refused.exit_code == 1
    assert "not configured" in refused.output
