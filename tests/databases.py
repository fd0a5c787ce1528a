"""Scratch databases for tests that must start from nothing (migrations, un-migrated servers)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tessera.store.engine import make_engine

PG_ENV = "TESSERA_TEST_DATABASE_URL"


@contextmanager
def scratch_postgres(prefix: str = "tessera_scratch") -> Iterator[str]:
    """A new, empty PostgreSQL database beside TESSERA_TEST_DATABASE_URL, dropped afterwards.

    Skips the test when PostgreSQL is not configured (fails instead when CI requires it).
    """
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests skipped: set {PG_ENV}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("TESSERA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {base} unreachable")
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def scratch_database(kind: str, directory: Path) -> Iterator[str]:
    """An empty database of `kind` ("sqlite" or "postgresql"), not migrated."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'scratch.db'}"
        return
    with scratch_postgres() as url:
        yield url
