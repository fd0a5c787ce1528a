"""Helpers for auth-method tests: identities as rows, method setup over HTTP, a real server, races.

Identities are written straight through the app's session factory, so these tests do not depend
on the identity-management API. Everything else goes through HTTP like a client would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.audit.models import AuditEvent
from tessera.auth.token_uses import EXTRAS_KEY as USE_LEDGER_KEY
from tessera.auth.token_uses import UseLedger
from tessera.identities.models import Identity, IdentityAccessToken, IdentityOrgMembership
from tessera.orgs.models import Organization
from tessera.text import unique_suffix
from tests.conftest import Admin

T = TypeVar("T")
LOGIN_KEYS = {"accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"}
UA = "/api/v1/auth/universal-auth"
TOKEN_AUTH = "/api/v1/auth/token-auth"
REFRESH = "/api/v1/auth/refresh-token-auth"


def session_of(app: Any) -> Session:
    session: Session = app.state.context.session_factory()
    return session


def now_of(app: Any) -> datetime:
    now: datetime = app.state.context.clock.now()
    return now


def create_identity(
    app: Any,
    org_id: str,
    *,
    role: str = "admin",
    name: str = "machine",
    expires_at: datetime | None = None,
    is_active: bool = True,
) -> str:
    """An identity row plus its org membership; returns its id."""
    now = now_of(app)
    with session_of(app) as session, session.begin():
        identity = Identity(
            org_id=org_id,
            name=name,
            is_active=is_active,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
        session.add(identity)
        session.flush()
        session.add(
            IdentityOrgMembership(
                org_id=org_id, identity_id=identity.id, role=role, created_at=now, updated_at=now
            )
        )
        return identity.id


def create_org(app: Any, name: str = "Elsewhere") -> str:
    now = now_of(app)
    with session_of(app) as session, session.begin():
        org = Organization(name=name, slug=f"elsewhere-{unique_suffix()}", created_at=now, updated_at=now)
        session.add(org)
        session.flush()
        return org.id


def update_identity(app: Any, identity_id: str, **values: Any) -> None:
    with session_of(app) as session, session.begin():
        identity = session.get(Identity, identity_id)
        assert identity is not None
        for key, value in values.items():
            setattr(identity, key, value)


def flush_token_uses(app: Any) -> None:
    """Write the uses of unlimited tokens the app still holds in memory (see auth.token_uses)."""
    ledger = app.state.context.extras.get(USE_LEDGER_KEY)
    if isinstance(ledger, UseLedger):
        ledger.flush()


def token_row(app: Any, token_id: str) -> IdentityAccessToken:
    flush_token_uses(app)
    with session_of(app) as session:
        row = session.get(IdentityAccessToken, token_id)
        assert row is not None
        session.expunge(row)
        return row


def token_rows(app: Any, identity_id: str) -> list[IdentityAccessToken]:
    flush_token_uses(app)
    with session_of(app) as session:
        rows = list(
            session.scalars(select(IdentityAccessToken).where(IdentityAccessToken.identity_id == identity_id))
        )
        session.expunge_all()
        return rows


def audit_events(app: Any, *, event: str | None = None, identity_id: str | None = None) -> list[AuditEvent]:
    with session_of(app) as session:
        query = select(AuditEvent).order_by(AuditEvent.created_at, AuditEvent.id)
        if event is not None:
            query = query.where(AuditEvent.event == event)
        if identity_id is not None:
            query = query.where(AuditEvent.identity_id == identity_id)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def audit_ids(app: Any) -> set[str]:
    return {event.id for event in audit_events(app)}


def new_failures(app: Any, seen: set[str], event: str = "login") -> list[AuditEvent]:
    """Failure events written since `seen` was taken (timestamps tie under a frozen clock)."""
    return [e for e in audit_events(app, event=event) if e.id not in seen and e.outcome == "failure"]


def failure_reason(app: Any, call: Callable[[], Any], event: str = "login") -> tuple[Any, str | None]:
    """Run `call` and return its result with the reason of the one failure it audited (or None)."""
    seen = audit_ids(app)
    result = call()
    failures = new_failures(app, seen, event)
    assert len(failures) <= 1, [f.reason for f in failures]
    return result, failures[0].reason if failures else None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_at(app: Any, ip: str) -> TestClient:
    """A client whose socket address is `ip` (no lifespan: the fixture's client owns that)."""
    return TestClient(app, client=(ip, 40000), raise_server_exceptions=False)


def use_token(
    client: TestClient, token: str, identity_id: str, *, headers: dict[str, str] | None = None
) -> Any:
    """One authenticated request (listing the identity's own tokens: any admin may)."""
    return client.get(
        f"/api/v1/identities/{identity_id}/tokens", headers={**bearer(token), **(headers or {})}
    )


def comparable(response: Any) -> tuple[int, dict[str, Any]]:
    """Status and body without the request id, for "identical answers" comparisons."""
    body = dict(response.json())
    body.pop("reqId", None)
    return response.status_code, body


# --- method setup over HTTP ---------------------------------------------------------------------


def attach_ua(client: TestClient, admin: Admin, identity_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"{UA}/identities/{identity_id}", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()["identityUniversalAuth"]
    return config


def create_client_secret(
    client: TestClient, admin: Admin, identity_id: str, **body: Any
) -> tuple[str, dict[str, Any]]:
    response = client.post(f"{UA}/identities/{identity_id}/client-secrets", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    return data["clientSecret"], data["clientSecretData"]


def ua_login(client: TestClient, client_id: str, client_secret: str, **kwargs: Any) -> Any:
    return client.post(f"{UA}/login", json={"clientId": client_id, "clientSecret": client_secret}, **kwargs)


def ua_identity(
    client: TestClient,
    app: Any,
    admin: Admin,
    *,
    role: str = "admin",
    secret: dict[str, Any] | None = None,
    **config: Any,
) -> tuple[str, str, str]:
    """An identity with Universal Auth and one client secret: (identity id, client id, secret)."""
    identity_id = create_identity(app, admin.org_id, role=role)
    client_id = attach_ua(client, admin, identity_id, **config)["clientId"]
    plaintext, _ = create_client_secret(client, admin, identity_id, **(secret or {}))
    return identity_id, client_id, plaintext


def token_auth_token(
    client: TestClient, app: Any, admin: Admin, *, identity_id: str | None = None, **config: Any
) -> tuple[str, str, str]:
    """An identity (admin role) with Token Auth and one token: (identity id, token, token id)."""
    identity_id = identity_id or create_identity(app, admin.org_id)
    response = client.post(f"{TOKEN_AUTH}/identities/{identity_id}", json=config, headers=admin.headers)
    assert response.status_code == 200, response.text
    created = client.post(f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={}, headers=admin.headers)
    assert created.status_code == 200, created.text
    return identity_id, created.json()["accessToken"], created.json()["tokenData"]["id"]


# --- a real server and real concurrency -------------------------------------------------------------


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run the app under uvicorn on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:  # waiting for start-up, not for time-based logic
        assert thread.is_alive(), "server thread died"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def all_at_once(count: int, call: Callable[[int], T]) -> list[T]:
    """Run `call(i)` in `count` threads released together by a barrier; results in order."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait(timeout=30)
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
