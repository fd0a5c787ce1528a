"""The Azure Auth models and migration 0004 describe the same tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from tessera.store.registry import Base

AZURE_TABLES = {"identity_azure_auths", "azure_used_tokens"}


def _mentions_azure(diff: Any) -> bool:
    text = repr(diff)
    return any(name in text for name in AZURE_TABLES)


def test_models_match_the_migration(engine: Engine) -> None:
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diffs if _mentions_azure(d)] == []
