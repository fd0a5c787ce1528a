"""Pure: is a database error an outage (answer 503, the client may retry) or a bug (500)?

Outages: the server is down, restarting or refusing connections, a connection died mid-request,
the pool is exhausted, SQLite is locked past its busy timeout, read-only, or out of disk. Those
are not the caller's fault and say nothing about the data, so the caller gets the retryable 503
and the operator a log line naming the cause. Everything else (a constraint violated, bad SQL)
stays a 500.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLite primary result codes that mean "the storage cannot serve right now".
_SQLITE_OUTAGES = {
    5: "database_busy",  # SQLITE_BUSY: the write lock was not released within the busy timeout
    6: "database_busy",  # SQLITE_LOCKED
    7: "database_out_of_memory",  # SQLITE_NOMEM
    8: "database_read_only",  # SQLITE_READONLY
    10: "database_io_error",  # SQLITE_IOERR
    13: "database_storage_full",  # SQLITE_FULL: the disk (or the page limit) is full
    14: "database_cannot_open",  # SQLITE_CANTOPEN
    15: "database_busy",  # SQLITE_PROTOCOL
}
_SQLITE_MESSAGES = {
    "database is locked": "database_busy",
    "database table is locked": "database_busy",
    "database or disk is full": "database_storage_full",
    "attempt to write a readonly database": "database_read_only",
    "disk i/o error": "database_io_error",
    "unable to open database file": "database_cannot_open",
}
# PostgreSQL SQLSTATE classes/codes of the same kind: connection exceptions (08), insufficient
# resources such as a full disk or too many connections (53), operator intervention such as a
# shutdown or a server still starting (57P), and transaction rollbacks such as a serialisation
# failure or deadlock (40), which a retry resolves.
_PG_OUTAGE_PREFIXES = ("08", "53", "57P", "40")


def outage_reason(exc: BaseException) -> str | None:
    """The reason code when `exc`, or an error it was raised while handling, is an outage.

    The chain matters: when SQLite runs out of space inside a SAVEPOINT it rolls the whole
    transaction back, and the ROLLBACK TO that follows fails with "no such savepoint"; that
    second error is what surfaces, and the full disk is its context.
    """
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        reason = _own_reason(current)
        if reason is not None:
            return reason
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _own_reason(exc: BaseException) -> str | None:
    if isinstance(exc, PoolTimeout):
        return "database_pool_exhausted"
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return "database_connection_lost"
        return _driver_reason(exc.orig)
    # A driver error raised outside a statement (a connection or transaction hook) reaches the
    # edge unwrapped.
    return _driver_reason(exc)


def _driver_reason(original: BaseException | None) -> str | None:
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        if isinstance(code, int):
            return _SQLITE_OUTAGES.get(code & 0xFF)
        # Raised by hand (a lock wait that timed out in our own code) with SQLite's message.
        return _SQLITE_MESSAGES.get(str(original).strip().lower())
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_PG_OUTAGE_PREFIXES):
        return "database_unavailable"
    if _is_psycopg_connection_error(original):
        return "database_unavailable"
    return None


def _is_psycopg_connection_error(original: BaseException | None) -> bool:
    """psycopg raises OperationalError without a SQLSTATE when it cannot connect at all."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(original, psycopg.OperationalError | psycopg.InterfaceError) and not getattr(
        original, "sqlstate", None
    )
