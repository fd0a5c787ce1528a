"""The Azure Auth models and migration 0004 describe the same tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from tessera.store import migrate
from tessera.store.registry import Base

AZURE_TABLES = {"identity_azure_auths", "azure_used_tokens"}


def _mentions_azure(diff: Any) -> bool:
    text = repr(diff)
    return any(name in text for name in AZURE_TABLES)


def test_models_match_the_migration(engine: Engine) -> None:
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diffs if _mentions_azure(d)] == []


def test_migration_downgrades_and_upgrades_again(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        # The PostgreSQL database is shared by the whole session; the SQLite one is this test's own.
        pytest.skip("round trip runs on the per-test SQLite copy")
    assert set(inspect(engine).get_table_names()) >= AZURE_TABLES
    migrate.downgrade(engine, "0003")
    assert not AZURE_TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= AZURE_TABLES
