"""SQLite's one writer at a time, handed over at once instead of polled for.

SQLite lets one connection write at a time. A connection that finds the write lock taken calls
its busy handler, which sleeps and retries on a back-off schedule reaching 100 ms per sleep. Under
load that leaves the lock idle for most of each sleep after its holder commits, so throughput falls
to a few dozen writes per second however short the transactions are.

Here every write transaction first takes two locks that wake their waiters the moment they are
released: a lock per database file within the process (so at most one thread per process waits
at the file level) and an exclusive `flock` on a companion file (`<db>-writer.lock`) across
processes, e.g. the server's workers. Only then is `BEGIN IMMEDIATE` sent, which now finds the
write lock free. Both are released as soon as the transaction commits or rolls back.

The in-process wait is bounded by the busy timeout, as SQLite's own wait is: a thread that tries
to write on a second connection while its first one holds a write transaction fails with
"database is locked" after that time, exactly as it would without this module. The `flock` wait
needs no bound: only the one thread per process that holds the process lock waits on it, and
the holder in another process is always a running transaction.

Inside `attempt_without_waiting()` the locks are waited for only briefly: when they stay taken,
`WriterBusy` is raised instead, so code that must not block for long (a request run on the
event loop) can roll back and run again where waiting is allowed. Once something in the attempt
has committed, later lock requests wait as usual: running again from the start would repeat
that commit.
"""

from __future__ import annotations

import contextvars
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FLOCK_POLL_S = 0.0001


def lock_path(database: str) -> str:
    return f"{database}-writer.lock"


class FileWriter:
    """The write locks of one database file, for this process: a thread lock, and one descriptor of
    the companion file for the `flock` (the thread lock lets one thread at a time use it)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)

    def take(self, timeout: float) -> None:
        """Wait for both locks (the thread lock at most `timeout` s). Raises OperationalError."""
        if not self._lock.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked")
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        except BaseException:
            self._lock.release()
            raise

    def try_take(self, within: float = 0.0) -> bool:
        """Take both locks if they come within `within` s; False (holding neither) if not.

        The `flock` has no timeout, so it is polled every FLOCK_POLL_S: its holder in another
        process is a running transaction, usually done within a millisecond.
        """
        deadline = time.monotonic() + within
        acquired = self._lock.acquire(timeout=within) if within > 0 else self._lock.acquire(blocking=False)
        if not acquired:
            return False
        try:
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        self._lock.release()
                        return False
                    time.sleep(FLOCK_POLL_S)
        except BaseException:
            self._lock.release()
            raise

    def give_back(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


_FILE_WRITERS: dict[str, FileWriter] = {}
_FILE_WRITERS_GUARD = threading.Lock()


def file_writer(database: str) -> FileWriter:
    """This process's FileWriter for a database file (one per real path, kept for the process)."""
    path = os.path.realpath(database)
    with _FILE_WRITERS_GUARD:
        found = _FILE_WRITERS.get(path)
        if found is None:
            found = _FILE_WRITERS[path] = FileWriter(path)
        return found


class WriterBusy(Exception):
    """The write lock is held by someone else and this attempt may not wait for it.

    Deliberately not a sqlite3.Error: SQLAlchemy passes it through unwrapped, and no handler of
    database errors mistakes it for an outage.
    """


class _Attempt:
    __slots__ = ("committed", "wait_s")

    def __init__(self, wait_s: float) -> None:
        self.committed = False
        self.wait_s = wait_s


_NO_WAIT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "sqlite_writer_no_wait", default=None
)


@contextmanager
def attempt_without_waiting(*, up_to_s: float = 0.0) -> Iterator[None]:
    """Within the block, a write lock that does not come within `up_to_s` raises WriterBusy
    instead of being waited for (see above)."""
    token = _NO_WAIT.set(_Attempt(up_to_s))
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


def _note_commit() -> None:
    attempt = _NO_WAIT.get()
    if attempt is not None:
        attempt.committed = True


class WriterLockedConnection(sqlite3.Connection):
    """A pysqlite connection that holds the writer locks from `acquire_writer()` to its commit/rollback.

    Set up with `configure(database, timeout)` right after connecting (the engine's connect hook).
    """

    _writer: FileWriter | None = None
    _writer_timeout: float = 0.0
    _writer_held: bool = False

    def configure_writer(self, database: str, timeout: float) -> None:
        self._writer = file_writer(database)
        self._writer_timeout = timeout

    def acquire_writer(self) -> None:
        """Take both locks (no-op when not configured or already held). Raises OperationalError."""
        writer = self._writer
        if writer is None or self._writer_held:
            return
        attempt = _NO_WAIT.get()
        if attempt is not None and not attempt.committed:
            if not writer.try_take(attempt.wait_s):
                raise WriterBusy
        else:
            writer.take(self._writer_timeout)
        self._writer_held = True

    def release_writer(self) -> None:
        if not self._writer_held or self._writer is None:
            return
        self._writer_held = False
        self._writer.give_back()

    def commit(self) -> None:
        try:
            super().commit()
            if self._writer_held:
                _note_commit()
        finally:
            self.release_writer()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer()


def acquire_writer(dbapi_connection: Any) -> None:
    if isinstance(dbapi_connection, WriterLockedConnection):
        dbapi_connection.acquire_writer()
