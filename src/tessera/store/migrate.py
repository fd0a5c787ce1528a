"""Run Alembic migrations from the installed package (no alembic.ini needed).

Every schema change runs in one transaction that first takes the migration lock, so processes
started together (`tessera db upgrade` twice, a rollout's replicas, `tessera server` on SQLite)
apply each migration exactly once: the first one migrates, the others wait for its commit and then
find the schema at the target revision with nothing left to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

# The PostgreSQL advisory-lock key that serialises migrations of one database (any fixed 64-bit
# number works; advisory locks are per database, so other databases on the server are unaffected).
MIGRATION_LOCK_KEY = 0x7E55E2A_0001


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "tessera.store:migrations")
    return config


@contextmanager
def _locked_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the migration lock until it commits or rolls back.

    PostgreSQL: without the lock, two processes on an empty database both see no
    `alembic_version` table, both run CREATE TABLE and the second fails on a duplicate catalog
    entry (or, on a partly migrated database, both apply the same step). The transaction-scoped
    advisory lock is released by the commit itself, so a waiter never sees a half-applied schema,
    and its next statement (READ COMMITTED) reads the revision the first process committed.

    SQLite: `engine.begin()` already takes the cross-process writer lock and `BEGIN IMMEDIATE`
    (see `store.engine`), so the whole migration is one exclusive write transaction and a second
    migrator waits for its commit; nothing more is needed.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        yield connection


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _locked_transaction(engine) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _locked_transaction(engine) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
