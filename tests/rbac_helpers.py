"""Identities with tokens for permission tests: rows written through the app's own session factory.

Tokens are minted by the one real minting path (`issue_access_token`, via tests.factories), so a
token made here is checked on every request exactly like one from a login.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.identities.models import Identity
from tests.factories import make_identity, mint_token


@dataclass(frozen=True)
class Caller:
    identity_id: str
    org_id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def principal(self) -> Principal:
        return Principal(
            identity_id=self.identity_id, org_id=self.org_id, auth_method="token-auth", token_id=self.token_id
        )


def app_session(app: Any) -> Session:
    """A session like a request's: it carries the app's (frozen) clock for temporary-role expiry."""
    session: Session = app.state.context.session_factory()
    session.info["clock"] = app.state.context.clock
    return session


def add_identity(app: Any, org_id: str, *, role: str = "no-access", name: str = "machine") -> Caller:
    """A new identity of `org_id` holding the built-in org `role`, with a non-expiring token."""
    context = app.state.context
    now = context.clock.now()
    with app_session(app) as session, session.begin():
        identity = make_identity(session, org_id=org_id, now=now, role=role, name=name)
        login = mint_token(session, identity, now=now, secret=context.signing_secret)
    return Caller(identity_id=identity.id, org_id=org_id, token=login.access_token, token_id=login.token_id)


def new_token(app: Any, identity_id: str) -> str:
    """Another token for an existing identity (e.g. after re-enabling it)."""
    context = app.state.context
    with app_session(app) as session, session.begin():
        identity = session.get(Identity, identity_id)
        assert identity is not None
        login = mint_token(session, identity, now=context.clock.now(), secret=context.signing_secret)
    return login.access_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
