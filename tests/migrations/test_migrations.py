"""Migrations on SQLite and PostgreSQL: up, down to nothing, up again, one step at a time, and the
models' metadata compared with the migrated schema (this guards every feature's migration)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from tessera.store import migrate
from tessera.store.engine import make_engine
from tessera.store.registry import Base
from tests.databases import scratch_database

ALEMBIC_TABLE = "alembic_version"
FOUNDATION_TABLES = {
    ALEMBIC_TABLE,
    "audit_events",
    "instance_state",
    "organizations",
    "users",
    "org_user_memberships",
    "identities",
    "identity_org_memberships",
    "identity_metadata",
    "identity_access_tokens",
    "projects",
    "environments",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a brand-new database of each kind (never the shared test database)."""
    with scratch_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_there_is_one_head_and_a_straight_chain() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, (
        f"migrations have several heads {heads}; give the newer one the right down_revision"
    )
    assert _revisions_oldest_first()[0] == "0001"


def test_upgrade_downgrade_upgrade(blank_engine: Engine) -> None:
    migrate.upgrade(blank_engine)
    assert migrate.is_up_to_date(blank_engine)
    created = _tables(blank_engine)
    assert created >= FOUNDATION_TABLES

    migrate.downgrade(blank_engine, "base")
    assert migrate.current_revision(blank_engine) is None
    leftovers = _tables(blank_engine) - {ALEMBIC_TABLE}
    assert leftovers == set(), f"downgrade to base left tables behind: {sorted(leftovers)}"

    migrate.upgrade(blank_engine)
    assert migrate.current_revision(blank_engine) == migrate.head_revision()
    assert _tables(blank_engine) == created


def test_every_revision_steps_down_and_back_up(blank_engine: Engine) -> None:
    """Each migration's downgrade undoes exactly its upgrade, so the same upgrade runs again."""
    for revision in _revisions_oldest_first():
        migrate.upgrade(blank_engine, revision)
        tables_after_upgrade = _tables(blank_engine)
        migrate.downgrade(blank_engine, "-1")
        migrate.upgrade(blank_engine, revision)
        assert _tables(blank_engine) == tables_after_upgrade, f"revision {revision} does not round-trip"
    assert migrate.is_up_to_date(blank_engine)


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": connection.dialect.name == "sqlite"},
        )
        return list(compare_metadata(context, Base.metadata))


def _describe(difference: Any) -> str:
    """One line per difference, naming the table and column, instead of Alembic's object dumps."""
    if isinstance(difference, list):  # changes to one column come grouped
        return "; ".join(_describe(item) for item in difference)
    operation, *args = difference
    try:
        if operation in ("add_table", "remove_table"):
            return f"{operation} {args[0].name}"
        if operation in ("add_column", "remove_column"):
            return f"{operation} {args[1]}.{args[2].name} ({args[2].type})"
        if operation.startswith("modify_"):
            _schema, table, column, _existing, old, new = args
            return f"{operation} {table}.{column}: database has {old!r}, models say {new!r}"
        constraint = args[0]
        columns = ", ".join(column.name for column in constraint.columns)
        return f"{operation} {constraint.name} on {constraint.table.name}({columns})"
    except (AttributeError, IndexError, TypeError, ValueError):
        return repr(difference)


def test_models_match_the_migrated_schema(blank_engine: Engine) -> None:
    """add_* means the models have something the migrations do not create; remove_* the reverse."""
    migrate.upgrade(blank_engine)
    differences = [_describe(item) for item in _differences(blank_engine)]
    assert not differences, (
        f"the models and the migrations disagree on {blank_engine.dialect.name}; fix the migration that "
        "belongs to the model (or register the model in tessera/store/registry.py):\n  "
        + "\n  ".join(differences)
    )
