"""RL-6: another process holds SQLite's write lock. Requests wait up to the configured busy
timeout, then fail with a retryable 503 (never a 500, never a hang), succeed again as soon as the
lock is released, and the file is intact."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tessera.app import create_app
from tessera.backups.snapshot import integrity_problems
from tessera.clock import FrozenClock
from tessera.store.engine import make_engine
from tests.conftest import BOOTSTRAP_BODY, CLIENT_ADDR, make_settings

BUSY_TIMEOUT_MS = 400
REQUESTS = 6


@pytest.mark.timeout(60)
def test_rl6_requests_wait_for_the_busy_timeout_then_503_and_recover(
    sqlite_template: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "tessera.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    settings = make_settings(url, tmp_path / "data", sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)
    app = create_app(settings, clock=clock, engine=engine)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        boot = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY).json()
        headers = {"Authorization": f"Bearer {boot['identity']['credentials']['token']}"}
        probe = f"/api/v1/identities/{boot['identity']['id']}/tokens"
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")
            results: list[tuple[int, float]] = []
            lock = threading.Lock()

            def call() -> None:
                started = time.monotonic()
                status = client.get(probe, headers=headers).status_code
                with lock:
                    results.append((status, time.monotonic() - started))

            threads = [threading.Thread(target=call) for _ in range(REQUESTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            other.execute("ROLLBACK")
        assert [status for status, _ in results] == [503] * REQUESTS
        # Each waited for the busy timeout (not failing at once), and none hung far beyond it.
        assert all(BUSY_TIMEOUT_MS / 1000 * 0.9 <= seconds < 10 for _, seconds in results), results
        refused = client.get(probe, headers=headers)
        assert refused.status_code == 200
    engine.dispose()
    assert integrity_problems(path) == []
