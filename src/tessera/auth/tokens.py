"""Using, renewing and revoking identity access tokens (the per-request check lives here, once).

Every state change is a single conditional UPDATE whose WHERE clause restates the rule, so that
two concurrent requests cannot both take the last use of a token, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.auth.token_uses import session_ledger
from tessera.auth.trusted_ips import ip_allowed
from tessera.clock import as_utc
from tessera.crypto.access_tokens import (
    IDENTITY_ACCESS_TOKEN_TYPE,
    AccessTokenClaims,
    decode_access_token,
    encode_access_token,
)
from tessera.errors import BadRequest, Forbidden, Unauthorized
from tessera.identities.models import Identity, IdentityAccessToken
from tessera.observability.metrics import Metrics, record_token_use, session_metrics

TOKEN_NOT_FOUND = "No identity access token found"  # noqa: S105 - a message
USES_EXHAUSTED = "Unable to renew because access token number of uses limit reached"
TTL_EXPIRED = "Failed to renew MI access token due to TTL expiration"
MAX_TTL_EXPIRED = "Failed to renew MI access token due to Max TTL expiration"
PAST_MAX_TTL = "Failed to renew MI access token past its Max TTL expiration"
IP_NOT_ALLOWED = "You are not allowed to access this resource from the current IP address"


@dataclass(frozen=True, slots=True)
class TokenState:
    """A token row and its identity, as entities (renew and revoke change and return them)."""

    token: IdentityAccessToken
    identity: Identity


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What the per-request check needs of a token and its identity: plain columns, one query."""

    token_id: str
    identity_id: str
    org_id: str
    auth_method: str
    is_revoked: bool
    num_uses: int
    num_uses_limit: int
    expires_at: datetime | None
    token_version: int
    trusted_ips: list[dict[str, Any]]
    identity_active: bool
    identity_expires_at: datetime | None
    identity_token_version: int

    @classmethod
    def of(cls, state: TokenState) -> TokenFacts:
        token, identity = state.token, state.identity
        return cls(
            token_id=token.id,
            identity_id=identity.id,
            org_id=identity.org_id,
            auth_method=token.auth_method,
            is_revoked=token.is_revoked,
            num_uses=token.num_uses,
            num_uses_limit=token.num_uses_limit,
            expires_at=token.expires_at,
            token_version=token.token_version,
            trusted_ips=token.trusted_ips,
            identity_active=identity.is_active,
            identity_expires_at=identity.expires_at,
            identity_token_version=identity.token_version,
        )


def parse_bearer(header: str | None) -> str | None:
    """`Authorization: Bearer x` → x. Like Infisical, the scheme word is not checked."""
    if not header:
        return None
    value = header[7:].strip() if len(header) > 7 else ""
    return value or None


# The per-request statements are built once: composing SQL expressions costs more CPU than
# running these indexed queries, and every authenticated request runs both.
_LOAD_STATE = (
    select(IdentityAccessToken, Identity)
    .join(Identity, Identity.id == IdentityAccessToken.identity_id)
    .where(IdentityAccessToken.id == bindparam("p_token_id"))
)
# Table columns, not ORM attributes: the statement then runs as plain Core (no entity loading),
# which every authenticated request saves. Column order = TokenFacts' field order.
_TOKENS, _IDENTITIES = IdentityAccessToken.__table__, Identity.__table__
_LOAD_FACTS = (
    select(
        _TOKENS.c.id,
        _TOKENS.c.identity_id,
        _IDENTITIES.c.org_id,
        _TOKENS.c.auth_method,
        _TOKENS.c.is_revoked,
        _TOKENS.c.num_uses,
        _TOKENS.c.num_uses_limit,
        _TOKENS.c.expires_at,
        _TOKENS.c.token_version,
        _TOKENS.c.trusted_ips,
        _IDENTITIES.c.is_active,
        _IDENTITIES.c.expires_at,
        _IDENTITIES.c.token_version,
    )
    .join(_IDENTITIES, _IDENTITIES.c.id == _TOKENS.c.identity_id)
    .where(_TOKENS.c.id == bindparam("p_token_id"))
)
_CONSUME_USE = (
    update(IdentityAccessToken)
    .where(
        IdentityAccessToken.id == bindparam("p_token_id"),
        IdentityAccessToken.is_revoked.is_(False),
        or_(
            IdentityAccessToken.num_uses_limit == 0,
            IdentityAccessToken.num_uses < IdentityAccessToken.num_uses_limit,
        ),
        or_(IdentityAccessToken.expires_at.is_(None), IdentityAccessToken.expires_at >= bindparam("p_now")),
    )
    .values(num_uses=IdentityAccessToken.num_uses + 1, last_used_at=bindparam("p_now"))
    .execution_options(synchronize_session=False)
)


def _load_state(session: Session, claims: AccessTokenClaims) -> TokenState | None:
    row = session.execute(_LOAD_STATE, {"p_token_id": claims.token_id}).first()
    if row is None:
        return None
    token, identity = row
    if token.identity_id != claims.identity_id:
        return None
    return TokenState(token=token, identity=identity)


def _load_facts(session: Session, claims: AccessTokenClaims) -> TokenFacts | None:
    row = session.connection().execute(_LOAD_FACTS, {"p_token_id": claims.token_id}).first()
    if row is None:
        return None
    facts = TokenFacts(*tuple(row))  # the columns are in field order (see _LOAD_FACTS)
    return facts if facts.identity_id == claims.identity_id else None


def token_problem(facts: TokenFacts, now: datetime) -> str | None:
    """Pure: the reason a token may not be used right now (other than IP), or None."""
    if facts.is_revoked:
        return "token_revoked"
    if not facts.identity_active:
        return "identity_disabled"
    if facts.identity_expires_at is not None and as_utc(facts.identity_expires_at) <= now:
        return "identity_expired"
    if facts.token_version != facts.identity_token_version:
        return "token_version_stale"
    if facts.num_uses_limit > 0 and facts.num_uses >= facts.num_uses_limit:
        return "uses_exhausted"
    if facts.expires_at is not None and as_utc(facts.expires_at) < now:
        return "ttl_expired"
    return None


_PROBLEM_MESSAGES = {"uses_exhausted": USES_EXHAUSTED, "ttl_expired": TTL_EXPIRED}


def _verify(raw_token: str, secret: bytes, now: datetime) -> AccessTokenClaims:
    claims = decode_access_token(raw_token, secret=secret, now=now)
    if claims.token_type != IDENTITY_ACCESS_TOKEN_TYPE:
        raise Unauthorized("Token missing", reason="wrong_token_type")
    return claims


def authenticate(
    session: Session,
    raw_token: str | None,
    *,
    client_ip: str | None,
    now: datetime,
    secret: bytes,
    consume: bool = True,
) -> Principal:
    """Check a bearer token and consume one use.

    With `consume=False` the caller takes the use itself later with `take_use` (and must refuse
    the request when that returns False); read-only requests do so after their reads.

    Raises:
        Unauthorized: no token, or the token is revoked, expired, exhausted or otherwise unusable.
        TokenError: the JWT is malformed, forged or past its exp.
        Forbidden: the client IP is not among the token's trusted IPs (consumes nothing).
    """
    if raw_token is None:
        raise Unauthorized("Token missing", reason="token_missing")
    claims = _verify(raw_token, secret, now)
    facts = _load_facts(session, claims)
    if facts is None:
        raise Unauthorized(TOKEN_NOT_FOUND, reason="token_not_found")
    problem = token_problem(facts, now)
    if problem is not None:
        raise Unauthorized(_PROBLEM_MESSAGES.get(problem, TOKEN_NOT_FOUND), reason=problem)
    if not ip_allowed(client_ip, facts.trusted_ips):
        raise Forbidden(IP_NOT_ALLOWED, reason="ip_not_trusted")
    principal = Principal(
        identity_id=facts.identity_id,
        org_id=facts.org_id,
        auth_method=facts.auth_method,
        token_id=facts.token_id,
        client_ip=client_ip,
        uses_limited=facts.num_uses_limit > 0,
    )
    if consume and not take_use(session, principal, now):
        # Lost a race for the last use (or a concurrent revoke/expiry): same answer as above.
        raise Unauthorized(USES_EXHAUSTED, reason="uses_exhausted_race")
    return principal


def take_use(
    db: Session | Connection, principal: Principal, now: datetime, *, metrics: Metrics | None = None
) -> bool:
    """Count one use of the caller's token; False when a limited token has no use left.

    A token without a use limit is counted in the request's ledger (written within a second,
    see auth.token_uses) when the session carries one; a limited token, or one used outside a
    request, takes its use in the conditional UPDATE.
    """
    ledger = session_ledger(db.info) if isinstance(db, Session) else None
    if not principal.uses_limited and ledger is not None:
        ledger.add(principal.token_id, now)
    elif not consume_use(db, principal.token_id, now):
        return False
    if metrics is None and isinstance(db, Session):
        metrics = session_metrics(db)
    record_token_use(metrics, principal.auth_method)
    return True


def consume_use(db: Session | Connection, token_id: str, now: datetime) -> bool:
    """Take one use in a single conditional UPDATE; False when the token is no longer usable.

    Runs on the session's connection directly: the statement touches no loaded entity
    (synchronize_session=False), and skipping the ORM's bulk-update machinery halves its cost.
    """
    connection = db.connection() if isinstance(db, Session) else db
    result = connection.execute(_CONSUME_USE, {"p_token_id": token_id, "p_now": now})
    return result.rowcount == 1


def renew(
    session: Session, raw_token: str, *, now: datetime, secret: bytes
) -> tuple[str, IdentityAccessToken]:
    """Restart the TTL window from now, never past the max TTL; returns a freshly signed JWT.

    Raises:
        TokenError, BadRequest, Unauthorized: as for `authenticate`; renewing past the max TTL
        revokes the token (persisted) and answers 401.
    """
    claims = decode_access_token(raw_token, secret=secret, now=now)
    if claims.token_type != IDENTITY_ACCESS_TOKEN_TYPE:
        raise BadRequest("Only identity access tokens can be renewed", reason="wrong_token_type")
    state = _load_state(session, claims)
    if state is None:
        raise Unauthorized(TOKEN_NOT_FOUND, reason="token_not_found")
    problem = token_problem(TokenFacts.of(state), now)
    if problem is not None:
        raise Unauthorized(_PROBLEM_MESSAGES.get(problem, TOKEN_NOT_FOUND), reason=problem)
    token = state.token
    new_expiry = now + timedelta(seconds=token.ttl_seconds) if token.ttl_seconds > 0 else None
    if token.max_expires_at is not None:
        max_expiry = as_utc(token.max_expires_at)
        message = None
        if now > max_expiry:
            message = MAX_TTL_EXPIRED
        elif new_expiry is None or new_expiry > max_expiry:
            message = PAST_MAX_TTL
        if message is not None:
            _revoke_row(session, token.id)
            raise Unauthorized(message, reason="max_ttl_reached", persist=True)
    renewed = session.execute(
        update(IdentityAccessToken)
        .where(IdentityAccessToken.id == token.id, IdentityAccessToken.is_revoked.is_(False))
        .values(last_renewed_at=now, expires_at=new_expiry, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthorized(TOKEN_NOT_FOUND, reason="token_revoked_race")
    new_jwt = encode_access_token(
        identity_id=token.identity_id,
        token_id=token.id,
        secret=secret,
        issued_at=now,
        expires_at=new_expiry,
        client_secret_id=token.client_secret_id,
    )
    return new_jwt, token


def revoke(session: Session, raw_token: str, *, now: datetime, secret: bytes) -> IdentityAccessToken:
    """Revoke the presented token. Raises TokenError for a bad JWT, Unauthorized if already gone."""
    claims = decode_access_token(raw_token, secret=secret, now=now)
    if claims.token_type != IDENTITY_ACCESS_TOKEN_TYPE:
        raise Unauthorized("Only identity access tokens can be revoked", reason="wrong_token_type")
    state = _load_state(session, claims)
    if state is None or not _revoke_row(session, state.token.id):
        raise Unauthorized(TOKEN_NOT_FOUND, reason="token_not_found")
    return state.token


def _revoke_row(session: Session, token_id: str) -> bool:
    result = session.execute(
        update(IdentityAccessToken)
        .where(IdentityAccessToken.id == token_id, IdentityAccessToken.is_revoked.is_(False))
        .values(is_revoked=True)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def revoke_identity_tokens(session: Session, identity_id: str, *, auth_method: str | None = None) -> int:
    """Revoke every live token of an identity (optionally only those from one auth method)."""
    query = update(IdentityAccessToken).where(
        IdentityAccessToken.identity_id == identity_id, IdentityAccessToken.is_revoked.is_(False)
    )
    if auth_method is not None:
        query = query.where(IdentityAccessToken.auth_method == auth_method)
    result = session.execute(query.values(is_revoked=True).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def bump_token_version(session: Session, identity_id: str) -> None:
    """Revoke-all: every token minted under the old version stops working in the same statement."""
    session.execute(
        update(Identity)
        .where(Identity.id == identity_id)
        .values(token_version=Identity.token_version + 1)
        .execution_options(synchronize_session=False)
    )


def apply_trusted_ips(
    session: Session, identity_id: str, auth_method: str, trusted_ips: list[dict[str, Any]]
) -> None:
    """A method's trusted-IP change applies at once to the tokens it already issued."""
    session.execute(
        update(IdentityAccessToken)
        .where(IdentityAccessToken.identity_id == identity_id, IdentityAccessToken.auth_method == auth_method)
        .values(trusted_ips=trusted_ips)
        .execution_options(synchronize_session=False)
    )
