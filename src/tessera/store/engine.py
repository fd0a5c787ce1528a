"""Engine construction: SQLite pragmas for the embedded default, a sized pool for PostgreSQL."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tessera.store.sqlite_writer import FileWriter, WriterLockedConnection, acquire_writer, file_writer

# Execution option for sessions that only read (see `read_session`): on SQLite their statements
# run without an enclosing transaction, so they never hold or wait for the write lock (each read
# sees the latest commit, which is PostgreSQL's READ COMMITTED behaviour). Ignored elsewhere.
SQLITE_AUTOCOMMIT = "tessera_sqlite_autocommit"

# SQLite file databases whose connections take the writer locks of `sqlite_writer`.
_LOCAL_ENGINES: weakref.WeakKeyDictionary[Engine, FileWriter] = weakref.WeakKeyDictionary()


def local_file_writer(engine: Engine) -> FileWriter | None:
    """The write locks of an SQLite file database, None for any other engine.

    Such a database's statements never wait on a network, and its write lock can be tried
    without waiting (`sqlite_writer.attempt_without_waiting`).
    """
    return _LOCAL_ENGINES.get(engine)


def make_engine(url: str, *, sqlite_busy_timeout_ms: int = 10_000, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, sqlite_busy_timeout_ms, echo)
    return create_engine(
        url,
        echo=echo,
        json_deserializer=orjson.loads,  # JSON columns are read on hot paths (trusted IPs, roles)
        pool_pre_ping=True,  # a PostgreSQL restart must not leave dead connections in the pool
        # Above the app's cap on requests in flight (32), so a full house never waits for a connection.
        pool_size=16,
        max_overflow=24,
        pool_timeout=10,
    )


def _create_private(path: Path) -> None:
    """Create a new database file as owner-only (0600) before SQLite does with the umask's mode.

    SQLite gives the -wal and -shm files the mode of the database file, so all three stay
    unreadable to other local users (CVE-2021-38553 class). An existing file is left as it is.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


def _sqlite_engine(url: str, busy_timeout_ms: int, echo: bool) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:" and not parsed.query:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        _create_private(Path(parsed.database))
    engine = create_engine(
        url,
        echo=echo,
        json_deserializer=orjson.loads,  # JSON columns are read on hot paths (trusted IPs, roles)
        connect_args={
            "check_same_thread": False,
            "timeout": busy_timeout_ms / 1000,
            "factory": WriterLockedConnection,
        },
        pool_size=20,
        max_overflow=20,
    )

    writer_locked = bool(parsed.database and parsed.database != ":memory:" and not parsed.query.get("mode"))
    if writer_locked:
        _LOCAL_ENGINES[engine] = file_writer(str(parsed.database))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so that BEGIN is ours (the documented
        # SAVEPOINT workaround), then set the pragmas every connection needs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        if writer_locked:
            dbapi_connection.configure_writer(parsed.database, busy_timeout_ms / 1000)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(SQLITE_AUTOCOMMIT):
            return  # a read-only session: no transaction, no write lock
        # Nearly every request writes (an access token's use counter), so take the write lock up
        # front: a deferred transaction that reads and then writes can fail with SQLITE_BUSY
        # instead of waiting when another writer committed in between. The writer locks first
        # (see sqlite_writer) hand the lock over without SQLite's sleep-and-retry.
        dbapi_connection = connection.connection.dbapi_connection
        acquire_writer(dbapi_connection)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi_connection.release_writer()
            raise

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A short session for reads that must not hold a write transaction, e.g. before slow I/O.

    On SQLite its statements run outside any transaction, so it neither takes nor waits for the
    write lock; elsewhere it is one brief transaction, rolled back at the end. Its connection goes
    back to the pool when the block ends, and what it loaded is detached: read it inside the block.
    """
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_AUTOCOMMIT: True})
        with Session(bind=connection) as session:
            yield session
