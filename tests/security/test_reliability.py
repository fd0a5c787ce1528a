"""Catalogue §2.9, the reliability cases that one process can prove (RL-1, RL-2, RL-7, RL-8, RL-9,
RL-11), on SQLite and PostgreSQL. Restarts of PostgreSQL, SIGKILL, lock contention, replicas,
backups, soak and rate limits are in tests/faults and tests/scaleout (see README.md)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tessera.app import create_app
from tessera.crypto.keyring import UnknownRootKey
from tessera.secrets.models import Secret, SecretVersion
from tessera.settings import Settings
from tests.api.secrets_support import V3, Secrets
from tests.conftest import CLIENT_ADDR, TEST_ROOT_KEY, Admin, make_settings
from tests.factories_auth import all_at_once, serve, session_of, token_auth_token, use_token


def _versions(app: Any, secret_id: str) -> int:
    with session_of(app) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(SecretVersion).where(SecretVersion.secret_id == secret_id)
            )
            or 0
        )


@pytest.mark.timeout(120)
def test_rl_1_concurrent_writes_to_one_secret(
    client: TestClient, app: Any, admin: Admin, project: dict[str, Any]
) -> None:
    s = Secrets(client, project["id"], admin.headers)
    created = s.ok("DB_PW", "v0")
    body = {"workspaceId": project["id"], "environment": "dev", "secretPath": "/"}
    with serve(app) as base, httpx.Client(base_url=base, timeout=60, headers=admin.headers) as http:
        answers = all_at_once(
            50,
            lambda i: (i, http.patch(f"{V3}/DB_PW", json={**body, "secretValue": f"value-{i}"}).status_code),
        )
    statuses = [status for _, status in answers]
    assert set(statuses) <= {200, 409}, statuses
    acknowledged = {f"value-{i}" for i, status in answers if status == 200}
    assert acknowledged
    final = s.get("DB_PW").json()["secret"]
    assert final["secretValue"] in acknowledged
    assert final["version"] == 1 + len(acknowledged)
    assert _versions(app, created["id"]) == 1 + len(acknowledged)
    for version in range(1, final["version"] + 1):  # every version decrypts
        old = s.get("DB_PW", version=version)
        assert old.status_code == 200, old.text


@pytest.mark.timeout(120)
def test_rl_2_concurrent_creates_of_one_name(
    client: TestClient, app: Any, admin: Admin, project: dict[str, Any]
) -> None:
    body = {"workspaceId": project["id"], "environment": "dev", "secretPath": "/", "secretValue": "v"}
    with serve(app) as base, httpx.Client(base_url=base, timeout=60, headers=admin.headers) as http:
        statuses = all_at_once(20, lambda _i: http.post(f"{V3}/NEW", json=body).status_code)
    assert sorted(statuses) == [200] + [409] * 19
    with session_of(app) as session:
        assert int(session.scalar(select(func.count()).select_from(Secret)) or 0) == 1


def test_rl_8_clock_jump_forward(client: TestClient, app: Any, admin: Admin, clock: Any) -> None:
    identity_id, token, _ = token_auth_token(client, app, admin, accessTokenTTL=60, accessTokenMaxTTL=600)
    assert use_token(client, token, identity_id).status_code == 200
    clock.advance(61)
    assert use_token(client, token, identity_id).status_code in {401, 403}
    assert client.post("/api/v1/auth/token/renew", json={"accessToken": token}).status_code in {401, 403}


def test_rl_9_clock_jump_backward_gains_no_lifetime(
    client: TestClient, app: Any, admin: Admin, clock: Any
) -> None:
    """The max TTL is measured from the stored issue time, whatever the clock does in between."""
    identity_id, token, _ = token_auth_token(client, app, admin, accessTokenTTL=10, accessTokenMaxTTL=30)
    issued = int(clock.now().timestamp())
    clock.advance(-3600)
    renewed = client.post("/api/v1/auth/token/renew", json={"accessToken": token})
    if renewed.status_code == 200:
        token = renewed.json()["accessToken"]
        assert jwt.decode(token, options={"verify_signature": False})["exp"] <= issued + 30
    clock.advance(3600 + 31)  # back to real time, past issued + max TTL
    assert use_token(client, token, identity_id).status_code in {401, 403}
    assert client.post("/api/v1/auth/token/renew", json={"accessToken": token}).status_code in {401, 403}


def test_rl_11_root_key_rotation_and_an_unknown_key(
    client: TestClient,
    app: Any,
    admin: Admin,
    project: dict[str, Any],
    db_url: str,
    engine: Engine,
    clock: Any,
    tmp_path: Path,
) -> None:
    s = Secrets(client, project["id"], admin.headers)
    s.ok("OLD", "written-under-the-old-key")
    new_key = base64.b64encode(b"n" * 32).decode()
    rotated: Settings = make_settings(
        db_url, tmp_path / "rotated", root_key=new_key, previous_root_keys=[TEST_ROOT_KEY]
    )
    with TestClient(
        create_app(rotated, clock=clock, engine=engine), client=CLIENT_ADDR, raise_server_exceptions=False
    ) as fresh:
        after = Secrets(fresh, project["id"], admin.headers)
        assert after.get("OLD").json()["secret"]["secretValue"] == "written-under-the-old-key"
        after.ok("NEW", "written-under-the-new-key")
        assert after.get("NEW").json()["secret"]["secretValue"] == "written-under-the-new-key"
    # A server given a key that never sealed anything here refuses to start, rather than
    # returning garbage or starting to write under a second, unrelated key.
    stranger = make_settings(db_url, tmp_path / "stranger", root_key=base64.b64encode(b"z" * 32).decode())
    with (
        pytest.raises(UnknownRootKey, match="do not open this database"),
        TestClient(create_app(stranger, clock=clock, engine=engine), client=CLIENT_ADDR),
    ):
        pass


# Requests whose answers must not depend on the database (RL-7): hostile paths and names, case
# variants, odd characters; each as (method, path template, query or body).
PARITY_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v3/secrets/raw/db_pw", {"environment": "dev", "secretPath": "/app/../admin"}),
    ("GET", "/api/v3/secrets/raw/db_pw", {"environment": "dev", "secretPath": "/APP"}),
    ("GET", "/api/v3/secrets/raw/DB_PW", {"environment": "dev", "secretPath": "/app"}),
    ("GET", "/api/v3/secrets/raw/db_pw", {"environment": "DEV", "secretPath": "/app"}),
    ("GET", "/api/v3/secrets/raw/db_pw", {"environment": "dev", "secretPath": "/a\x00pp"}),
    ("GET", "/api/v3/secrets/raw/db_pw", {"environment": "dev", "secretPath": "//app//"}),
    ("GET", "/api/v3/secrets/raw", {"environment": "dev", "secretPath": "/app", "recursive": "true"}),
    ("POST", "/api/v3/secrets/raw/a%00b", {"environment": "dev", "secretPath": "/app", "secretValue": "v"}),
    (
        "POST",
        "/api/v3/secrets/raw/x'%20OR%20'1'%3D'1",
        {"environment": "dev", "secretPath": "/app", "secretValue": "v"},
    ),
    (
        "POST",
        "/api/v3/secrets/raw/caf%C3%A9",
        {"environment": "dev", "secretPath": "/app", "secretValue": "v"},
    ),
    (
        "POST",
        "/api/v3/secrets/raw/cafe%CC%81",
        {"environment": "dev", "secretPath": "/app", "secretValue": "v"},
    ),
    (
        "POST",
        "/api/v3/secrets/raw/%E2%80%AE",
        {"environment": "dev", "secretPath": "/app", "secretValue": "v"},
    ),
]
_VOLATILE = {"reqId", "id", "_id", "workspace", "createdAt", "updatedAt", "secretValue"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


@pytest.mark.usefixtures("fast_passwords")
def test_rl_7_storage_parity(request: pytest.FixtureRequest, tmp_path: Path, clock: Any) -> None:
    """The same hostile requests get the same statuses and bodies on SQLite and on PostgreSQL."""
    from tests.conftest import _empty_all, shared_engine
    from tests.factories import bootstrap_admin
    from tests.security.scene import build

    answers = []
    for kind in ("sqlite", "postgresql"):
        url = (
            request.getfixturevalue("sqlite_shared")
            if kind == "sqlite"
            else request.getfixturevalue("pg_url")
        )
        engine = shared_engine(url)
        _empty_all(engine)
        app = create_app(make_settings(url, tmp_path / kind), clock=clock, engine=engine)
        with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
            scene = build(client, app, bootstrap_admin(client))
            seen = []
            for method, path, fields in PARITY_REQUESTS:
                if method == "GET":
                    response = client.get(
                        path, params={"workspaceId": scene.p1["id"], **fields}, headers=scene.ua_headers
                    )
                else:
                    body = {"workspaceId": scene.p1["id"], **fields}
                    response = client.post(path, json=body, headers=scene.ua_headers)
                seen.append((method, path, response.status_code, _stable(response.json())))
            answers.append(seen)
        _empty_all(engine)
    assert answers[0] == answers[1]
