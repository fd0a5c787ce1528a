"""SQLite snapshots through SQLite's online backup API, and restores the same way in reverse.

A backup copies every page in one step while holding a read transaction on the live database,
so it is a consistent point-in-time image even while servers keep writing (WAL mode lets them).
It is written to a private temporary file, made self-contained (rollback journal, no -wal),
checked with `PRAGMA integrity_check`, then renamed into place: a backup file either exists
complete or not at all. A restore copies a checked backup into the live database through the
same API, under SQLite's own write lock, after saving the current contents beside it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

FILE_MODE = 0o600  # a backup holds sealed secrets and the tokens' hashes: owner only


class BackupError(Exception):
    """A backup or restore cannot go ahead; the message tells the operator why."""


def sqlite_path(url: str) -> Path:
    """The file behind an SQLite URL. Raises BackupError for in-memory or non-SQLite URLs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError("not an SQLite database")
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(parsed.database)


@contextmanager
def _connect(path: Path, *, busy_timeout_ms: int, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    target = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(target, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def integrity_problems(path: Path) -> list[str]:
    """`PRAGMA integrity_check` of a database file: [] when it is sound."""
    with _connect(path, busy_timeout_ms=5000, read_only=True) as connection:
        rows = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
    return [] if rows == ["ok"] else rows


def _private_temp(directory: Path, prefix: str) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    os.close(fd)
    os.chmod(name, FILE_MODE)
    return Path(name)


def snapshot(source: Path, destination: Path, *, busy_timeout_ms: int) -> None:
    """Write a consistent, self-contained copy of `source` to `destination` (which must not exist).

    Raises:
        BackupError: the source is missing, the destination exists, or the copy is unsound.
    """
    if not source.exists():
        raise BackupError(f"no database at {source}")
    if destination.exists():
        raise BackupError(f"{destination} exists; choose a new file name")
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = _private_temp(destination.parent, f".{destination.name}.")
    try:
        with (
            _connect(source, busy_timeout_ms=busy_timeout_ms) as live,
            _connect(temporary, busy_timeout_ms=busy_timeout_ms) as copy,
        ):
            live.backup(copy)  # all pages in one step: one consistent read transaction
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        problems = integrity_problems(temporary)
        if problems:
            raise BackupError(f"the copy failed its integrity check: {problems[:3]}")
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.link(temporary, destination)  # fails if the name appeared meanwhile; never overwrites
    finally:
        temporary.unlink(missing_ok=True)


def restore_into(backup: Path, live: Path, *, busy_timeout_ms: int, now: datetime) -> Path | None:
    """Replace the contents of `live` with `backup`; returns where the previous contents were saved.

    The previous contents are saved first (as `<live>.pre-restore-<UTC time>`), so a restore can
    itself be undone. SQLite's write lock is held while pages are copied, so a server that is
    still running waits rather than reading a half-restored file (stop servers anyway: their
    in-memory caches describe the old contents).
    """
    saved: Path | None = None
    if live.exists():
        saved = live.with_name(f"{live.name}.pre-restore-{now.strftime('%Y%m%dT%H%M%SZ')}")
        snapshot(live, saved, busy_timeout_ms=busy_timeout_ms)
    live.parent.mkdir(parents=True, exist_ok=True)
    with (
        _connect(backup, busy_timeout_ms=busy_timeout_ms, read_only=True) as source,
        _connect(live, busy_timeout_ms=busy_timeout_ms) as target,
    ):
        source.backup(target)
    with contextlib.suppress(OSError):
        os.chmod(live, FILE_MODE)
    problems = integrity_problems(live)
    if problems:
        raise BackupError(f"the restored database failed its integrity check: {problems[:3]}")
    return saved


def read_only_engine(path: Path) -> Engine:
    """An engine that can only read `path`: verification never changes what it checks."""
    return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
