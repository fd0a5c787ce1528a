"""Plain functions that put rows straight into a database, for tests that need more than bootstrap.

They flush but never commit: the caller owns the transaction.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tessera.app import create_app
from tessera.audit.service import RequestContext
from tessera.auth.login import LoginResult, issue_access_token
from tessera.auth.policy import TokenPolicy
from tessera.clock import FrozenClock, utcnow
from tessera.identities.models import Identity, IdentityOrgMembership
from tessera.orgs.models import Organization
from tessera.store.engine import make_engine
from tessera.text import slugify, unique_suffix
from tests.conftest import BOOTSTRAP_BODY, CLIENT_ADDR, Admin, make_settings

TEST_CLIENT_IP = "127.0.0.1"


def make_org(session: Session, *, now: datetime, name: str = "Other Org") -> Organization:
    org = Organization(name=name, slug=f"{slugify(name)}-{unique_suffix()}", created_at=now, updated_at=now)
    session.add(org)
    session.flush()
    return org


def make_identity(
    session: Session, *, org_id: str, now: datetime, role: str = "admin", **overrides: Any
) -> Identity:
    """An identity with an org membership carrying `role` (admin by default)."""
    values: dict[str, Any] = {"name": "test-identity", "created_at": now, "updated_at": now}
    values.update(overrides)
    identity = Identity(org_id=org_id, **values)
    session.add(identity)
    session.flush()
    session.add(
        IdentityOrgMembership(
            org_id=org_id, identity_id=identity.id, role=role, created_at=now, updated_at=now
        )
    )
    session.flush()
    return identity


def mint_token(
    session: Session,
    identity: Identity,
    *,
    now: datetime,
    secret: bytes,
    policy: TokenPolicy | None = None,
    method: str = "token-auth",
    client_ip: str = TEST_CLIENT_IP,
) -> LoginResult:
    """A token issued through the one real minting path, under `policy` (no expiry by default)."""
    return issue_access_token(
        session,
        identity=identity,
        method=method,
        policy=(policy or TokenPolicy(ttl=0, max_ttl=0)).validate(),
        now=now,
        signing_secret=secret,
        ctx=RequestContext(client_ip=client_ip),
    )


@contextmanager
def local_app(sqlite_template: Path, directory: Path, **overrides: Any) -> Iterator[TestClient]:
    """A client on a private SQLite copy, for module-scoped fixtures.

    For requests refused before anything is written (validation matrices, bad tokens): sharing one
    app between such tests is safe, and a fresh app pays FastAPI's analysis of every route on its
    first request.
    """
    path = directory / "local.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    app = create_app(
        make_settings(url, directory / "data", **overrides),
        clock=FrozenClock(utcnow().replace(microsecond=0)),
        engine=make_engine(url),
    )
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        yield client


def bootstrap_admin(client: TestClient) -> Admin:
    response = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY)
    assert response.status_code == 200, response.text
    body = response.json()
    return Admin(
        token=body["identity"]["credentials"]["token"],
        org_id=body["organization"]["id"],
        identity_id=body["identity"]["id"],
        user_id=body["user"]["id"],
    )
