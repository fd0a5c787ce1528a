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

Inside `attempt_without_waiting()` the locks are only tried: when either is taken, `WriterBusy`
is raised instead of waiting, so code that must not block (a request run on the event loop)
can roll back and retry where waiting is allowed. Once something in the attempt has committed,
later lock requests wait as usual: retrying from the start would repeat that commit.
"""

from __future__ import annotations

import contextvars
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(path: str) -> threading.Lock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(path, threading.Lock())


def lock_path(database: str) -> str:
    return f"{database}-writer.lock"


class WriterBusy(Exception):
    """The write lock is held by someone else and this attempt may not wait for it.

    Deliberately not a sqlite3.Error: SQLAlchemy passes it through unwrapped, and no handler of
    database errors mistakes it for an outage.
    """


class _Attempt:
    __slots__ = ("committed",)

    def __init__(self) -> None:
        self.committed = False


_NO_WAIT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "sqlite_writer_no_wait", default=None
)


@contextmanager
def attempt_without_waiting() -> Iterator[None]:
    """Within the block, taking the write lock raises WriterBusy instead of waiting (see above)."""
    token = _NO_WAIT.set(_Attempt())
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


def _must_not_wait() -> bool:
    attempt = _NO_WAIT.get()
    return attempt is not None and not attempt.committed


def _note_commit() -> None:
    attempt = _NO_WAIT.get()
    if attempt is not None:
        attempt.committed = True


class WriterLockedConnection(sqlite3.Connection):
    """A pysqlite connection that holds the writer locks from `acquire_writer()` to its commit/rollback.

    Set up with `configure(database, timeout)` right after connecting (the engine's connect hook).
    """

    _writer_path: str | None = None
    _writer_fd: int | None = None
    _writer_timeout: float = 0.0
    _writer_held: bool = False

    def configure_writer(self, database: str, timeout: float) -> None:
        self._writer_path = os.path.realpath(database)
        self._writer_timeout = timeout
        self._writer_fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)

    def acquire_writer(self) -> None:
        """Take both locks (no-op when not configured or already held). Raises OperationalError."""
        if self._writer_fd is None or self._writer_held or self._writer_path is None:
            return
        process_lock = _process_lock(self._writer_path)
        if _must_not_wait():
            self._try_acquire(process_lock)
            return
        if not process_lock.acquire(timeout=self._writer_timeout):
            raise sqlite3.OperationalError("database is locked")
        try:
            fcntl.flock(self._writer_fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        except BaseException:
            process_lock.release()
            raise
        self._writer_held = True

    def _try_acquire(self, process_lock: threading.Lock) -> None:
        assert self._writer_fd is not None
        if not process_lock.acquire(blocking=False):
            raise WriterBusy
        try:
            fcntl.flock(self._writer_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            process_lock.release()
            raise WriterBusy from None
        except BaseException:
            process_lock.release()
            raise
        self._writer_held = True

    def release_writer(self) -> None:
        if not self._writer_held or self._writer_path is None or self._writer_fd is None:
            return
        self._writer_held = False
        try:
            fcntl.flock(self._writer_fd, fcntl.LOCK_UN)
        finally:
            _process_lock(self._writer_path).release()

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
            if self._writer_fd is not None:
                os.close(self._writer_fd)
                self._writer_fd = None


def acquire_writer(dbapi_connection: Any) -> None:
    if isinstance(dbapi_connection, WriterLockedConnection):
        dbapi_connection.acquire_writer()
