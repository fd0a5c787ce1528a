"""Alembic environment: the connection is handed in by `tessera.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tessera.store.registry import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through tessera.store.migrate, which supplies a connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
