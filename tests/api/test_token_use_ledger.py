"""Uses of tokens without a use limit are counted in memory and written in batches (auth.token_uses);
limited tokens keep taking each use in SQL."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.auth.token_uses import EXTRAS_KEY, UseLedger
from tessera.clock import iso_js
from tessera.identities.models import IdentityAccessToken
from tests.conftest import CLIENT_ADDR, Admin
from tests.factories_auth import bearer, session_of, token_auth_token, use_token


def _stored(app: Any, token_id: str) -> tuple[int, Any]:
    """The row as the database has it, without flushing anything first."""
    with session_of(app) as session:
        row = session.execute(
            select(IdentityAccessToken.num_uses, IdentityAccessToken.last_used_at).where(
                IdentityAccessToken.id == token_id
            )
        ).one()
        return int(row[0]), row[1]


def _ledger(app: Any) -> UseLedger:
    ledger = app.state.context.extras.get(EXTRAS_KEY)
    assert isinstance(ledger, UseLedger)
    return ledger


def _listed_uses(client: TestClient, admin: Admin, identity_id: str, token_id: str) -> tuple[int, str]:
    tokens = client.get(f"/api/v1/identities/{identity_id}/tokens", headers=admin.headers).json()["tokens"]
    mine = next(t for t in tokens if t["tokenId"] == token_id)
    return mine["numUses"], mine["lastUsedAt"]


def test_unlimited_uses_are_held_in_memory_then_written_exactly(
    client: TestClient, app: Any, admin: Admin, clock: Any
) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin)
    for _ in range(3):
        assert use_token(client, token, identity_id).status_code == 200
        clock.advance(2)
    assert _stored(app, token_id) == (0, None)  # nothing written per request
    # This process shows the exact count already.
    assert _listed_uses(client, admin, identity_id, token_id) == (
        3,
        iso_js(clock.now() - timedelta(seconds=2)),
    )
    assert _ledger(app).flush() == 2  # the identity's token and the admin's own
    uses, last = _stored(app, token_id)
    assert uses == 3
    assert iso_js(last) == iso_js(clock.now() - timedelta(seconds=2))
    assert _ledger(app).flush() == 0  # written once, not again


def test_limited_tokens_take_every_use_in_the_database(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin, accessTokenNumUsesLimit=5)
    for _ in range(2):
        assert use_token(client, token, identity_id).status_code == 200
    assert _stored(app, token_id)[0] == 2
    assert _ledger(app).pending(token_id) == (0, None)


def test_a_failed_write_keeps_the_counts_for_the_next_flush(
    client: TestClient, app: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin)
    assert use_token(client, token, identity_id).status_code == 200
    ledger = _ledger(app)
    engine = ledger._engine

    class Down:
        def begin(self) -> Any:
            raise ConnectionError("database unreachable")

    monkeypatch.setattr(ledger, "_engine", Down())
    with pytest.raises(ConnectionError):
        ledger.flush()
    assert use_token(client, token, identity_id).status_code == 200
    monkeypatch.setattr(ledger, "_engine", engine)
    ledger.flush()
    assert _stored(app, token_id)[0] == 2


def test_the_last_use_time_only_moves_forward(client: TestClient, app: Any, admin: Admin, clock: Any) -> None:
    """Two processes may flush out of order: an older batch must not move the time back."""
    identity_id, token, token_id = token_auth_token(client, app, admin)
    assert use_token(client, token, identity_id).status_code == 200
    ledger = _ledger(app)
    later = clock.now() + timedelta(minutes=5)
    ledger.add(token_id, later)
    ledger.flush()
    ledger.add(token_id, clock.now() - timedelta(minutes=5))
    ledger.flush()
    uses, last = _stored(app, token_id)
    assert uses == 3
    assert iso_js(last) == iso_js(later)


def test_the_flusher_writes_within_its_interval(app: Any, admin: Admin, client: TestClient) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin)
    app.state.context.extras[EXTRAS_KEY] = UseLedger(app.state.engine, interval_s=0.05)
    assert use_token(client, token, identity_id).status_code == 200
    deadline = time.monotonic() + 10
    while _stored(app, token_id)[0] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _stored(app, token_id)[0] == 1


def test_stopping_the_app_writes_what_is_pending(app: Any, admin: Admin, client: TestClient) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin)
    with TestClient(app, client=CLIENT_ADDR) as second:
        assert (
            second.get(f"/api/v1/identities/{identity_id}/tokens", headers=bearer(token)).status_code == 200
        )
        assert _stored(app, token_id)[0] == 0
    assert _stored(app, token_id)[0] == 1  # the lifespan's end flushed it
