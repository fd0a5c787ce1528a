"""RL-14: two `tessera db upgrade` processes started at the same moment on one empty database.

Both must exit 0 (the later one waits for the earlier one and then finds nothing to do), the
schema must be at head exactly once (one `alembic_version` row) and match the models, and the
database must be intact. Each process imports Tessera first and then waits on a shared go-file,
so their upgrades really start together instead of one finishing while the other still imports.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from tessera.store import migrate
from tessera.store.engine import make_engine
from tests.databases import scratch_database
from tests.migrations.test_migrations import FOUNDATION_TABLES, _describe, _differences
from tests.processes import REPO, server_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PROCESSES = 2
RUN_SECONDS = 90.0
# The child: import the CLI (the slow part), say so, wait for the go-file, run `tessera db upgrade`.
UPGRADE_AT_SIGNAL = """
import os, sys, time
from pathlib import Path
from tessera.cli.main import main
barrier = Path(sys.argv[1])
(barrier / f"ready-{os.getpid()}").touch()
while not (barrier / "go").exists():
    time.sleep(0.002)
sys.argv = ["tessera", "db", "upgrade"]
main()
"""


def _start_upgrades(url: str, data_dir: Path, barrier: Path) -> list[subprocess.Popen[str]]:
    env = server_env(url, data_dir)
    return [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_AT_SIGNAL, str(barrier)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]


def _release_together(barrier: Path, children: list[subprocess.Popen[str]]) -> None:
    """Wait until every child has imported Tessera, then let them all start upgrading at once."""
    deadline = time.monotonic() + RUN_SECONDS
    while len(list(barrier.glob("ready-*"))) < len(children):  # waiting for start-up, not for time
        assert all(child.poll() is None for child in children), "an upgrade process exited early"
        assert time.monotonic() < deadline, "the upgrade processes did not start"
        time.sleep(0.01)
    (barrier / "go").touch()


def _alembic_rows(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]


def _sqlite_integrity(url: str) -> list[str]:
    path = make_url(url).database
    assert path is not None
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_rl14_two_concurrent_db_upgrades_migrate_exactly_once(kind: str, tmp_path: Path) -> None:
    with scratch_database(kind, tmp_path) as url:
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        children = _start_upgrades(url, tmp_path / "data", barrier)
        try:
            _release_together(barrier, children)
            outcomes = [child.communicate(timeout=RUN_SECONDS) for child in children]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.communicate()
        for child, (stdout, stderr) in zip(children, outcomes, strict=True):
            assert child.returncode == 0, f"a concurrent `db upgrade` failed:\n{stderr[-4000:]}"
            assert stdout.strip() == f"database at revision {migrate.head_revision()}"

        engine = make_engine(url)
        try:
            assert _alembic_rows(engine) == [migrate.head_revision()]
            assert set(inspect(engine).get_table_names()) >= FOUNDATION_TABLES
            differences = [_describe(item) for item in _differences(engine)]
            assert not differences, "\n".join(differences)
        finally:
            engine.dispose()
        if kind == "sqlite":
            assert _sqlite_integrity(url) == ["ok"]
