"""Which database errors are outages (503, retry) and which are bugs (500)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tessera.store.availability import outage_reason


def _sqlite(code: int, message: str = "x") -> OperationalError:
    original = sqlite3.OperationalError(message)
    original.sqlite_errorcode = code  # type: ignore[attr-defined]
    return OperationalError("stmt", {}, original)


def _pg(sqlstate: str | None) -> OperationalError:
    original = psycopg.errors.lookup(sqlstate)("x") if sqlstate else psycopg.OperationalError("x")
    return OperationalError("stmt", {}, original)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_sqlite(5), "database_busy"),
        (_sqlite(13), "database_storage_full"),
        (_sqlite(8), "database_read_only"),
        (_sqlite(10 | (3 << 8)), "database_io_error"),  # an extended I/O error code
        (_sqlite(14), "database_cannot_open"),
        (_sqlite(1, "no such table: secrets"), None),
        (_pg("57P01"), "database_unavailable"),  # admin shutdown
        (_pg("57P03"), "database_unavailable"),  # starting up
        (_pg("08006"), "database_unavailable"),  # connection failure
        (_pg("53100"), "database_unavailable"),  # disk full
        (_pg("40001"), "database_unavailable"),  # serialisation
        (_pg(None), "database_unavailable"),  # cannot connect
        (IntegrityError("stmt", {}, Exception("duplicate key")), None),
        (ProgrammingError("stmt", {}, Exception("syntax error")), None),
        (PoolTimeout("pool exhausted"), "database_pool_exhausted"),
        (sqlite3.OperationalError("database is locked"), "database_busy"),  # raised by hand, unwrapped
        (sqlite3.OperationalError("no such table: x"), None),
        (psycopg.errors.lookup("57P01")("x"), "database_unavailable"),  # unwrapped driver error
        (psycopg.errors.lookup("23505")("x"), None),  # a unique violation is a bug, not an outage
        (ValueError("not a database error"), None),
    ],
    ids=lambda value: getattr(value, "__name__", None) or str(value)[:30],
)
def test_outage_reason(error: BaseException, reason: str | None) -> None:
    assert outage_reason(error) == reason


def test_an_error_raised_while_handling_an_outage_is_the_outage() -> None:
    """SQLite rolls back a whole transaction on SQLITE_FULL; the ROLLBACK TO SAVEPOINT then fails."""

    def rollback_after_full_disk() -> None:
        try:
            raise _sqlite(13, "database or disk is full")
        except OperationalError:
            raise _sqlite(1, "no such savepoint: sa_savepoint_1")  # noqa: B904 - the point of the test

    with pytest.raises(OperationalError) as caught:
        rollback_after_full_disk()
    assert outage_reason(caught.value) == "database_storage_full"
    assert outage_reason(_sqlite(1, "no such savepoint: sa_savepoint_1")) is None


def test_the_connection_invalidated_flag_is_an_outage() -> None:
    error = OperationalError(
        "stmt", {}, Exception("server closed the connection"), connection_invalidated=True
    )
    assert outage_reason(error) == "database_connection_lost"
