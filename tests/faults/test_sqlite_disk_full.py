"""Disk full under the embedded SQLite database: requests that must write (which includes every
authenticated request: it records a use of its token) fail with a clear, retryable 503 and the
operator's log names the cause; nothing is corrupted, and everything works again as soon as space
is freed, without a restart.

Two variants. `tmpfs`: the database lives on a real 4 MiB tmpfs that a filler file fills up, so
SQLite meets a genuine ENOSPC on its WAL (needs root with the right to mount, as in CI
containers; skipped elsewhere). `page-limit`: `PRAGMA max_page_count` makes SQLite fail with the
very same SQLITE_FULL result code when the database would grow; it runs anywhere and covers the
server's handling, but not the operating system's part, hence both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from tessera.app import create_app
from tessera.backups.snapshot import integrity_problems
from tessera.clock import FrozenClock
from tessera.store.engine import make_engine
from tests.conftest import BOOTSTRAP_BODY, CLIENT_ADDR, make_settings
from tests.faults.support import verify_everything

DISK_BYTES = 4 * 1024 * 1024
VALUE = "x" * 30_000


@dataclass
class SmallDisk:
    """Where the database lives, and how to fill and free the space under it."""

    directory: Path
    how: str  # "tmpfs" | "page-limit"
    engine: Engine | None = None
    page_limit: int | None = None

    def fill(self) -> None:
        if self.how == "tmpfs":
            with (self.directory / "filler").open("wb") as filler, contextlib.suppress(OSError):
                while True:  # until ENOSPC
                    filler.write(b"\0" * 65536)
                    filler.flush()
                    os.fsync(filler.fileno())
        else:
            assert self.engine is not None
            with self.engine.connect() as connection:
                self.page_limit = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
            self.engine.dispose()  # new connections get the limit

    def free(self) -> None:
        if self.how == "tmpfs":
            (self.directory / "filler").unlink()
        else:
            assert self.engine is not None
            self.page_limit = None
            self.engine.dispose()

    def watch(self, engine: Engine) -> None:
        """In page-limit mode, apply the current limit to every new connection."""
        self.engine = engine
        if self.how != "page-limit":
            return

        @event.listens_for(engine, "connect")
        def _limit(dbapi_connection: Any, _record: Any) -> None:
            if self.page_limit is not None:
                dbapi_connection.execute(f"PRAGMA max_page_count = {self.page_limit}")


@pytest.fixture(params=["tmpfs", "page-limit"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmallDisk]:
    directory = tmp_path / "disk"
    directory.mkdir()
    if request.param == "page-limit":
        yield SmallDisk(directory, "page-limit")
        return
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root; the page-limit variant covers the server's side")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode(errors='replace').strip()}")
    try:
        yield SmallDisk(directory, "tmpfs")
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)


def _create(client: TestClient, headers: dict[str, str], project_id: str, name: str, value: str) -> Any:
    body = {"workspaceId": project_id, "environment": "dev", "secretValue": value}
    return client.post(f"/api/v3/secrets/raw/{name}", json=body, headers=headers)


def _listed(client: TestClient, headers: dict[str, str], project_id: str) -> dict[str, str]:
    params = {"workspaceId": project_id, "environment": "dev", "secretPath": "/"}
    response = client.get("/api/v3/secrets/raw", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {s["secretKey"]: s["secretValue"] for s in response.json()["secrets"]}


def test_rl12_sqlite_disk_full_is_a_clear_503_without_corruption(
    disk: SmallDisk,
    sqlite_template: Path,
    tmp_path: Path,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = disk.directory / "tessera.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url, sqlite_busy_timeout_ms=2000)
    disk.watch(engine)
    app = create_app(make_settings(url, tmp_path / "data"), clock=clock, engine=engine)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        boot = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY).json()
        headers = {"Authorization": f"Bearer {boot['identity']['credentials']['token']}"}
        project_id = client.post("/api/v2/workspace", json={"projectName": "Full"}, headers=headers).json()[
            "project"
        ]["id"]
        stored = {f"BASE_{i}": f"base-{i}" for i in range(3)}
        for name, value in stored.items():
            assert _create(client, headers, project_id, name, value).status_code == 200

        disk.fill()
        caplog.set_level(logging.ERROR, logger="tessera.errors")
        statuses = []
        for index in range(200):
            response = _create(client, headers, project_id, f"FILL_{index}", VALUE)
            statuses.append(response.status_code)
            if response.status_code == 200:
                stored[f"FILL_{index}"] = VALUE
            elif statuses.count(503) >= 3:
                break
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(503) >= 3, f"the disk never filled ({disk.how})"
        refused = _create(client, headers, project_id, "REFUSED", VALUE)
        assert refused.status_code == 503
        body = refused.json()
        assert (body["statusCode"], body["error"]) == (503, "ServiceUnavailable")
        assert "sqlite" not in refused.text.lower()
        assert refused.headers["retry-after"] == "1"
        assert "database_storage_full" in caplog.text  # what the operator reads

        # Reads still work: the admin's token has no use limit, so its uses are counted in memory
        # (auth.token_uses) and a read writes nothing. What it answers is complete, and the
        # process stays up.
        params = {"workspaceId": project_id, "environment": "dev", "secretPath": "/"}
        read = client.get("/api/v3/secrets/raw", params=params, headers=headers)
        assert read.status_code == 200
        assert {s["secretKey"]: s["secretValue"] for s in read.json()["secrets"]} == stored
        assert client.get("/healthz").status_code == 200

        disk.free()
        assert _create(client, headers, project_id, "AFTER", "space again").status_code == 200
        stored["AFTER"] = "space again"
        assert _listed(client, headers, project_id) == stored
    engine.dispose()
    assert integrity_problems(path) == []
    report = verify_everything(url)
    assert report.ok, report.failures + report.inconsistencies
    assert report.secrets == len(stored)
