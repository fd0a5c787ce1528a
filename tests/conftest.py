"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL runs when TESSERA_TEST_DATABASE_URL is set (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test); the suite then creates its own database
beside it, so it never touches the named one's data. Without the variable the PostgreSQL half
is skipped with a message saying so.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tessera.app import create_app
from tessera.clock import FrozenClock, utcnow
from tessera.settings import Settings
from tessera.store import migrate
from tessera.store.engine import make_engine
from tessera.store.registry import Base

PG_ENV = "TESSERA_TEST_DATABASE_URL"
TEST_ROOT_KEY = base64.b64encode(b"r" * 32).decode()
TEST_AUTH_SECRET = "test-auth-secret-0123456789abcdef-0123456789"
CLIENT_ADDR = ("127.0.0.1", 50000)


def pytest_report_header() -> str:
    url = os.environ.get(PG_ENV)
    return f"PostgreSQL tests: {'ON (' + url + ')' if url else 'SKIPPED (set ' + PG_ENV + ' to run them)'}"


# --- databases --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy (much faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    # Fold the WAL into the main file so that copying the one file copies the whole database.
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A private, migrated PostgreSQL database for this test session, dropped at the end."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests skipped: set {PG_ENV}")
    name = f"tessera_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        if os.environ.get("TESSERA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {base} unreachable")
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))


# Engines live for the whole session, one per database, so that pooled connections and the
# app built on them are reused; each test starts from empty tables instead of a new database.
_ENGINES: dict[str, Engine] = {}


def shared_engine(url: str) -> Engine:
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    return engine


@pytest.fixture(scope="session", autouse=True)
def _dispose_shared_engines() -> Iterator[None]:
    yield
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@pytest.fixture(scope="session")
def sqlite_shared(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("shared") / "tessera.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def _empty_all(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        _truncate_all(engine)
        return
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, sqlite_shared: str) -> str:
    """The URL of a migrated database of each kind, emptied for this test."""
    url: str = sqlite_shared if request.param == "sqlite" else request.getfixturevalue("pg_url")
    _empty_all(shared_engine(url))
    return url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return shared_engine(db_url)


# --- application ------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    # Real "now" so that tokens look sane, then frozen so that tests decide when time passes.
    return FrozenClock(utcnow().replace(microsecond=0))


def make_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": data_dir,
        "root_key": TEST_ROOT_KEY,
        "auth_secret": TEST_AUTH_SECRET,
        "azure_authority_host": "http://127.0.0.1:9",  # never reached unless a test serves it
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "data")


# Building an app is cheap, but each app pays again, per route, for the framework's first-request
# set-up; sharing apps across tests with equal settings saves minutes over the suite.
_APPS: OrderedDict[str, Any] = OrderedDict()
_MAX_APPS = 8


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FrozenClock) -> Any:
    """An app on the test's settings; reused across tests, with the clock and caches made fresh."""
    key = settings.model_dump_json(exclude={"data_dir"})
    application = _APPS.pop(key, None)
    if application is None or application.state.engine is not engine:
        application = create_app(settings, clock=clock, engine=engine)
    _APPS[key] = application
    while len(_APPS) > _MAX_APPS:
        _APPS.popitem(last=False)
    context = application.state.context
    context.settings = settings
    context.clock = clock
    context.extras.clear()
    return application


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters (hashing is still argon2id, just fast): bootstrap runs in most tests."""
    from argon2 import PasswordHasher

    from tessera.crypto import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@dataclass
class Admin:
    """The bootstrap administrator: an org-admin identity token and the organisation."""

    token: str
    org_id: str
    identity_id: str
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


BOOTSTRAP_BODY = {"email": "admin@example.com", "password": "correct horse battery", "organization": "Acme"}


@pytest.fixture
def admin(client: TestClient) -> Admin:
    response = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY)
    assert response.status_code == 200, response.text
    body = response.json()
    return Admin(
        token=body["identity"]["credentials"]["token"],
        org_id=body["organization"]["id"],
        identity_id=body["identity"]["id"],
        user_id=body["user"]["id"],
    )


@pytest.fixture
def project(client: TestClient, admin: Admin) -> dict[str, Any]:
    response = client.post("/api/v2/workspace", json={"projectName": "Payments"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["project"]
    return result
