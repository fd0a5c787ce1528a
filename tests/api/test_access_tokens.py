"""The per-request access-token check: use limits exact (also under a race), TTL by the injected
clock, revocation, token-version bumps, identity state and trusted IPs."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from tessera.app import create_app
from tessera.auth.policy import TokenPolicy
from tessera.auth.principal import Principal
from tessera.auth.tokens import (
    IP_NOT_ALLOWED,
    TOKEN_NOT_FOUND,
    TTL_EXPIRED,
    USES_EXHAUSTED,
    authenticate,
    bump_token_version,
    revoke,
)
from tessera.auth.trusted_ips import parse_entries
from tessera.clock import FrozenClock
from tessera.crypto.access_tokens import encode_access_token
from tessera.errors import Unauthorized
from tessera.identities.models import Identity, IdentityAccessToken
from tessera.store.engine import make_session_factory
from tests.conftest import TEST_AUTH_SECRET, Admin, make_settings
from tests.factories import mint_token

pytestmark = pytest.mark.usefixtures("fast_passwords")

SECRET = TEST_AUTH_SECRET.encode()
PROTECTED = "/api/v1/workspace"


def _mint(
    engine: Engine, admin: Admin, clock: FrozenClock, policy: TokenPolicy, client_ip: str = "127.0.0.1"
) -> Any:
    """A token for the bootstrap admin identity, minted through the one real path."""
    with Session(engine) as session, session.begin():
        identity = session.get(Identity, admin.identity_id)
        assert identity is not None
        return mint_token(
            session, identity, now=clock.now(), secret=SECRET, policy=policy, client_ip=client_ip
        )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _row(engine: Engine, token_id: str) -> IdentityAccessToken:
    with Session(engine) as session:
        row = session.get(IdentityAccessToken, token_id)
        assert row is not None
        return row


def _fails(response: Any, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["message"] == message


@pytest.mark.parametrize("limit", [1, 3])
def test_a_use_limit_of_n_allows_exactly_n_requests(
    client: TestClient, admin: Admin, engine: Engine, clock: FrozenClock, limit: int
) -> None:
    login = _mint(engine, admin, clock, TokenPolicy(ttl=0, max_ttl=0, num_uses_limit=limit))
    for _ in range(limit):
        assert client.get(PROTECTED, headers=_bearer(login.access_token)).status_code == 200
    for _ in range(2):
        _fails(client.get(PROTECTED, headers=_bearer(login.access_token)), 401, USES_EXHAUSTED)
    assert _row(engine, login.token_id).num_uses == limit
    # Other tokens of the same identity are not affected.
    assert client.get(PROTECTED, headers=admin.headers).status_code == 200


def test_racing_requests_cannot_overspend_a_use_limit(
    engine: Engine, admin: Admin, clock: FrozenClock
) -> None:
    """Many requests at once on one token: exactly `limit` pass the single conditional UPDATE."""
    limit, contenders = 4, 12
    login = _mint(engine, admin, clock, TokenPolicy(ttl=0, max_ttl=0, num_uses_limit=limit))
    factory = make_session_factory(engine)
    barrier = threading.Barrier(contenders)
    passed: list[Principal] = []
    refused: list[Unauthorized] = []
    unexpected: list[BaseException] = []

    def use() -> None:
        try:
            barrier.wait(timeout=10)
            with factory.begin() as session:
                passed.append(
                    authenticate(
                        session, login.access_token, client_ip="127.0.0.1", now=clock.now(), secret=SECRET
                    )
                )
        except Unauthorized as exc:
            refused.append(exc)
        except BaseException as exc:  # reported by the assertions below
            unexpected.append(exc)

    threads = [threading.Thread(target=use) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert unexpected == []
    assert (len(passed), len(refused)) == (limit, contenders - limit)
    assert {exc.message for exc in refused} == {USES_EXHAUSTED}
    assert _row(engine, login.token_id).num_uses == limit


def test_ttl_expiry_follows_the_injected_clock(
    client: TestClient, admin: Admin, engine: Engine, clock: FrozenClock
) -> None:
    login = _mint(engine, admin, clock, TokenPolicy(ttl=60, max_ttl=120))
    assert login.expires_in == 60
    clock.advance(59)
    assert client.get(PROTECTED, headers=_bearer(login.access_token)).status_code == 200
    clock.advance(1)
    response = client.get(PROTECTED, headers=_bearer(login.access_token))
    assert (response.status_code, response.json()["error"]) == (403, "TokenError")
    assert response.json()["message"] == "Your token has expired. Please re-authenticate."


def test_the_stored_expiry_is_enforced_even_if_the_jwt_has_none(
    engine: Engine, admin: Admin, clock: FrozenClock
) -> None:
    """The row, not the JWT, is the authority: a token without exp still dies with its row's TTL."""
    login = _mint(engine, admin, clock, TokenPolicy(ttl=60, max_ttl=120))
    no_exp = encode_access_token(
        identity_id=admin.identity_id,
        token_id=login.token_id,
        secret=SECRET,
        issued_at=clock.now(),
        expires_at=None,
    )
    factory = make_session_factory(engine)
    with factory.begin() as session:
        authenticate(
            session, no_exp, client_ip="127.0.0.1", now=clock.now() + timedelta(seconds=60), secret=SECRET
        )
    with factory.begin() as session, pytest.raises(Unauthorized) as caught:
        authenticate(
            session, no_exp, client_ip="127.0.0.1", now=clock.now() + timedelta(seconds=61), secret=SECRET
        )
    assert caught.value.message == TTL_EXPIRED


def test_a_revoked_token_is_401(client: TestClient, admin: Admin, engine: Engine, clock: FrozenClock) -> None:
    login = _mint(engine, admin, clock, TokenPolicy(ttl=0, max_ttl=0))
    assert client.get(PROTECTED, headers=_bearer(login.access_token)).status_code == 200
    with Session(engine) as session, session.begin():
        revoke(session, login.access_token, now=clock.now(), secret=SECRET)
    _fails(client.get(PROTECTED, headers=_bearer(login.access_token)), 401, TOKEN_NOT_FOUND)
    assert client.get(PROTECTED, headers=admin.headers).status_code == 200


def test_a_token_version_bump_invalidates_every_earlier_token(
    client: TestClient, admin: Admin, engine: Engine, clock: FrozenClock
) -> None:
    extra = _mint(engine, admin, clock, TokenPolicy(ttl=0, max_ttl=0))
    with Session(engine) as session, session.begin():
        bump_token_version(session, admin.identity_id)
    for token in (admin.token, extra.access_token):
        _fails(client.get(PROTECTED, headers=_bearer(token)), 401, TOKEN_NOT_FOUND)
    fresh = _mint(engine, admin, clock, TokenPolicy(ttl=0, max_ttl=0))
    assert client.get(PROTECTED, headers=_bearer(fresh.access_token)).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"is_active": False}, id="identity-disabled"),
        pytest.param("expired", id="identity-expired"),
    ],
)
def test_tokens_stop_with_their_identity(
    client: TestClient, admin: Admin, engine: Engine, clock: FrozenClock, change: Any
) -> None:
    values = {"expires_at": clock.now() + timedelta(seconds=10)} if change == "expired" else change
    with Session(engine) as session, session.begin():
        session.execute(update(Identity).where(Identity.id == admin.identity_id).values(**values))
    if change == "expired":
        assert client.get(PROTECTED, headers=admin.headers).status_code == 200
        clock.advance(10)
    _fails(client.get(PROTECTED, headers=admin.headers), 401, TOKEN_NOT_FOUND)


# --- trusted IPs, with the client address resolved by the middleware -----------------------------

INTERNAL = parse_entries(["10.0.0.0/8"])


def test_a_token_is_refused_outside_its_trusted_ips_without_spending_a_use(
    client: TestClient, admin: Admin, engine: Engine, clock: FrozenClock
) -> None:
    login = _mint(
        engine,
        admin,
        clock,
        TokenPolicy(ttl=0, max_ttl=0, num_uses_limit=5, trusted_ips=INTERNAL),
        "10.1.1.1",
    )
    # The test client connects from 127.0.0.1; a spoofed X-Forwarded-For from an untrusted peer is ignored.
    for headers in ({}, {"X-Forwarded-For": "10.1.1.1"}):
        response = client.get(PROTECTED, headers={**_bearer(login.access_token), **headers})
        assert (response.status_code, response.json()["error"]) == (403, "ForbiddenError")
        assert response.json()["message"] == IP_NOT_ALLOWED
    assert _row(engine, login.token_id).num_uses == 0


def test_x_forwarded_for_counts_from_a_trusted_proxy(
    db_url: str, tmp_path: Path, engine: Engine, admin: Admin, clock: FrozenClock
) -> None:
    login = _mint(engine, admin, clock, TokenPolicy(ttl=0, max_ttl=0, trusted_ips=INTERNAL), "10.1.1.1")
    settings = make_settings(db_url, tmp_path / "proxied", trusted_proxies=["127.0.0.1/32"])
    app = create_app(settings, clock=clock, engine=engine)
    with TestClient(app, client=("127.0.0.1", 50000)) as proxied:
        ok = proxied.get(PROTECTED, headers={**_bearer(login.access_token), "X-Forwarded-For": "10.1.1.1"})
        assert ok.status_code == 200, ok.text
        outside = proxied.get(
            PROTECTED, headers={**_bearer(login.access_token), "X-Forwarded-For": "192.0.2.1"}
        )
        assert outside.status_code == 403
        # The proxy's own address is not the client's.
        assert proxied.get(PROTECTED, headers=_bearer(login.access_token)).status_code == 403


def test_a_client_connecting_from_inside_the_range_is_served(
    app: Any, admin: Admin, engine: Engine, clock: FrozenClock
) -> None:
    login = _mint(engine, admin, clock, TokenPolicy(ttl=0, max_ttl=0, trusted_ips=INTERNAL), "10.1.1.1")
    with TestClient(app, client=("10.9.9.9", 40000)) as inside:
        assert inside.get(PROTECTED, headers=_bearer(login.access_token)).status_code == 200
