"""A project's data key is created on first use, which may be a read running outside a transaction."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tessera.crypto.keyring import Keyring
from tessera.secrets.datakeys import load_or_create
from tessera.secrets.http import DATA_KEYS
from tessera.secrets.models import ProjectDataKey
from tests.conftest import Admin
from tests.factories_auth import session_of


def _forget_key(app: Any, project_id: str) -> None:
    """Back to a project whose data key was never made: no row, nothing cached."""
    with session_of(app) as session, session.begin():
        session.execute(ProjectDataKey.__table__.delete().where(ProjectDataKey.project_id == project_id))
    app.state.context.extras.pop(DATA_KEYS, None)


def _keys(app: Any, project_id: str) -> int:
    with session_of(app) as session:
        return int(session.scalar(select(func.count()).where(ProjectDataKey.project_id == project_id)) or 0)


def test_a_read_can_be_a_projects_first_use(
    client: TestClient, app: Any, admin: Admin, project: dict[str, Any]
) -> None:
    _forget_key(app, project["id"])
    params = {"workspaceId": project["id"], "environment": "dev", "secretPath": "/"}
    missing = client.get("/api/v3/secrets/raw/NOPE", params=params, headers=admin.headers)
    assert missing.status_code == 404, missing.text
    assert client.get("/api/v3/secrets/raw", params=params, headers=admin.headers).status_code == 200
    # (Whether those reads kept the key they made depends on the database: on PostgreSQL the 404's
    # transaction rolled it back. Either way there is never more than one.)
    assert _keys(app, project["id"]) <= 1
    # Secrets written later are sealed under that same key and read back.
    body = {"workspaceId": project["id"], "environment": "dev", "secretPath": "/", "secretValue": "v"}
    assert client.post("/api/v3/secrets/raw/FIRST", json=body, headers=admin.headers).status_code == 200
    read = client.get("/api/v3/secrets/raw/FIRST", params=params, headers=admin.headers)
    assert read.json()["secret"]["secretValue"] == "v"
    assert _keys(app, project["id"]) == 1


def test_two_first_uses_agree_on_one_key(
    app: Any, project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser of the race (it looked before the winner committed) gets the winner's key."""
    keyring = Keyring.from_settings(app.state.context.settings)
    now = app.state.context.clock.now()
    _forget_key(app, project["id"])
    with session_of(app) as first, session_of(app) as second:
        with first.begin():
            winner, created = load_or_create(first, keyring, project["id"], now=now)
        assert created
        # The loser's first look found nothing (it happened before the winner's commit)...
        real_scalar, looks = second.scalar, []

        def first_look_finds_nothing(*args: Any, **kwargs: Any) -> Any:
            looks.append(args)
            return None if len(looks) == 1 else real_scalar(*args, **kwargs)

        monkeypatch.setattr(second, "scalar", first_look_finds_nothing)
        with second.begin():
            loser, created = load_or_create(
                second, keyring, project["id"], now=now
            )  # ...its INSERT conflicts
        assert not created
    assert len(looks) == 2  # looked, conflicted, looked again
    assert loser == winner
    assert _keys(app, project["id"]) == 1


def test_a_key_made_in_a_transaction_that_rolls_back_is_not_kept(
    client: TestClient, app: Any, admin: Admin, project: dict[str, Any]
) -> None:
    """Regression: the key was cached before its row committed. A request that made it and then
    failed left a key in memory that the database did not have; secrets written under it were
    lost at the next restart."""
    _forget_key(app, project["id"])
    params = {"workspaceId": project["id"], "environment": "dev", "secretPath": "/"}
    assert client.get("/api/v3/secrets/raw/NOPE", params=params, headers=admin.headers).status_code == 404
    body = {"workspaceId": project["id"], "environment": "dev", "secretPath": "/", "secretValue": "kept"}
    assert client.post("/api/v3/secrets/raw/LATER", json=body, headers=admin.headers).status_code == 200
    assert _keys(app, project["id"]) == 1
    # A fresh app (a restart) reads the secret with the key the database has.
    app.state.context.extras.pop(DATA_KEYS, None)
    read = client.get("/api/v3/secrets/raw/LATER", params=params, headers=admin.headers)
    assert read.status_code == 200, read.text
    assert read.json()["secret"]["secretValue"] == "kept"
