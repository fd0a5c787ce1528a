"""Catalogue §2.7, leakage (LK-1 … LK-6), and the "nothing lost" canary scans, on both databases."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tessera.app import create_app
from tessera.clock import FrozenClock, utcnow
from tessera.store import migrate
from tessera.store.engine import make_engine
from tessera.store.registry import Base
from tests.api.secrets_support import V3
from tests.conftest import CLIENT_ADDR, Admin, make_settings
from tests.factories_auth import UA, bearer, ua_identity, ua_login, use_token
from tests.fakes.entra import FakeEntra
from tests.security.scene import Scene, build
from tests.security.support import audit_text


@pytest.fixture
def scene(client: TestClient, app: Any, admin: Admin) -> Scene:
    return build(client, app, admin)


def test_lk_1_malformed_payloads_do_not_echo_the_canary(scene: Scene) -> None:
    """CVE-2025-4166: a decoder error must not carry the submitted value back (or into logs)."""
    canary = "lk1-canary-7f3a9c"
    base = {"workspaceId": scene.p1["id"], "environment": "dev", "secretPath": "/app"}
    bodies = [
        {**base, "secretValue": {"nested": canary}},
        {**base, "secretValue": [canary]},
        {**base, "secretValue": 12, "unknownField": canary},
        {**base, "secretValue": canary, "secretReminderRepeatDays": canary},
        {**base, "secretValue": canary, "tagIds": canary},
    ]
    for body in bodies:
        response = scene.client.post(f"{V3}/LK1", json=body, headers=scene.ua_headers)
        assert response.status_code == 422, response.text
        assert canary not in response.text
    login = scene.client.post(f"{UA}/login", json={"clientId": canary, "clientSecret": {"x": canary}})
    assert login.status_code == 422
    assert canary not in login.text


def test_lk_2_logs_and_audit_hold_no_credentials_or_values(
    client: TestClient, app: Any, admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    """CVE-2024-8365 / CVE-2018-19786: scan everything logged and audited during a busy run."""
    with caplog.at_level(logging.DEBUG):
        scene = build(client, app, admin)
        identity_id, client_id, secret = ua_identity(client, app, admin)
        token = ua_login(client, client_id, secret).json()["accessToken"]
        wrong = secret[:-4] + "zzzz"
        ua_login(client, client_id, wrong)
        use_token(client, token, identity_id)
        scene.ua.get("db_pw", path="/app")
        scene.ua.get("root", path="/admin")  # refused
        scene.ua.create("NEW", "fresh-canary-value-91c2", path="/app")
        client.get("/api/v1/identities", headers=bearer(token + "x"))  # a broken token
        client.post("/api/v1/auth/token/renew", json={"accessToken": token})
    canaries = [*scene.values(), secret, wrong, token, "fresh-canary-value-91c2", admin.token]
    logged = "\n".join(
        record.getMessage() + repr(record.__dict__.get("args")) + str(record.__dict__)
        for record in caplog.records
    )
    audited = audit_text(app)
    for canary in canaries:
        assert canary not in logged
        assert canary not in audited
    assert "login" in audited  # the scan looked at real records


def _all_rows_as_text(engine: Engine) -> str:
    chunks = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def test_lk_3_nothing_in_the_database_is_plaintext(
    client: TestClient, app: Any, admin: Admin, engine: Engine, db_url: str
) -> None:
    scene = build(client, app, admin)
    _, client_id, secret = ua_identity(client, app, admin)
    token = ua_login(client, client_id, secret).json()["accessToken"]
    canaries = [*scene.values(), secret, token]
    dump = _all_rows_as_text(engine)
    assert scene.ids["dev:/app/db_pw"] in dump  # the dump is real
    for canary in canaries:
        assert canary not in dump
    if engine.dialect.name == "sqlite":
        database = Path(engine.url.database or "")
        files = [database, Path(f"{database}-wal")]
        raw = b"".join(path.read_bytes() for path in files if path.exists())
        for canary in canaries:
            assert canary.encode() not in raw
    del db_url


def test_lk_4_database_and_key_files_are_private(tmp_path: Path, sqlite_template: Path) -> None:
    """CVE-2021-38553: the SQLite file, its WAL and SHM, and generated keys are owner-only."""
    data = tmp_path / "data"
    settings = make_settings(f"sqlite:///{data / 'tessera.db'}", data, root_key=None, auth_secret=None)
    settings = settings.ensure_keys()
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    app = create_app(settings, clock=FrozenClock(utcnow()), engine=engine)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200
        files = [
            data / "tessera.db",
            data / "tessera.db-wal",
            data / "tessera.db-shm",
            data / "root.key",
            data / "auth.secret",
        ]
        for path in files:
            if path.exists():
                mode = stat.S_IMODE(path.stat().st_mode)
                assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}"
        assert (data / "tessera.db").exists()
    engine.dispose()
    del sqlite_template


def test_lk_5_internal_errors_carry_no_internals(tmp_path: Path, sqlite_template: Path) -> None:
    """A database that refuses writes: the answer has no stack trace, SQL or file paths."""
    path = tmp_path / "ro.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    app = create_app(
        make_settings(url, tmp_path / "data"), clock=FrozenClock(utcnow()), engine=make_engine(url)
    )
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/admin/bootstrap",
            json={"email": "a@example.com", "password": "correct horse battery", "organization": "A"},
        )
    assert response.status_code >= 500
    body = response.text
    for marker in ("Traceback", "sqlite", "INSERT", "SELECT", str(tmp_path), ".py", "readonly"):
        assert marker.lower() not in body.lower(), marker
    assert set(response.json()) == {"reqId", "statusCode", "message", "error"}
    assert os.path.exists(path)


def test_lk_6_inbound_credentials_are_never_forwarded(
    client: TestClient, app: Any, admin: Admin, tmp_path: Path, db_url: str, engine: Engine
) -> None:
    """CVE-2026-4525: the Entra key fetch carries none of the caller's headers or tokens."""
    entra = FakeEntra().start()
    try:
        settings = make_settings(db_url, tmp_path / "entra", azure_authority_host=entra.authority)
        azure_app = create_app(settings, clock=app.state.context.clock, engine=engine)
        with TestClient(azure_app, client=CLIENT_ADDR, raise_server_exceptions=False) as azure_client:
            from tests.factories_auth import create_identity
            from tests.security.test_azure_auth import OID_A, RESOURCE, T1, attach, claims

            key = entra.new_key(kid="k1")
            identity_id = create_identity(azure_app, admin.org_id)
            assert attach(azure_client, admin, identity_id).status_code == 200
            response = azure_client.post(
                "/api/v1/auth/azure-auth/login",
                json={"identityId": identity_id, "jwt": key.sign(claims(app.state.context.clock))},
                headers={**admin.headers, "Cookie": "session=s3cr3t-cookie", "X-Api-Key": "k3y-123"},
            )
            assert response.status_code == 200, response.text
            del OID_A, RESOURCE, T1
        assert entra.request_headers, "the stand-in was not called"
        for headers in entra.request_headers:
            lowered = {k.lower(): v for k, v in headers.items()}
            assert "authorization" not in lowered
            assert "cookie" not in lowered
            assert "x-api-key" not in lowered
            assert admin.token not in repr(headers)
    finally:
        entra.stop()


def test_lk_sql_dump_of_postgres_has_no_plaintext(
    client: TestClient, app: Any, admin: Admin, engine: Engine
) -> None:
    """LK-3 for PostgreSQL: every row of every table, cast to text by the server itself."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (SQLite files are scanned byte for byte in LK-3)")
    scene = build(client, app, admin)
    with engine.connect() as conn:
        dump = "\n".join(
            str(value)
            for table in Base.metadata.sorted_tables
            for value in conn.execute(text(f'SELECT t::text FROM "{table.name}" t')).scalars()  # noqa: S608 - our table names
        )
    for canary in scene.values():
        assert canary not in dump
