"""Token lifecycle operations behind `/api/v1/auth/token/...`: renew, revoke, revoke-all, introspection.

The per-request check and the renew/revoke rules themselves live in `tessera.auth.tokens`; this
module adds the audit trail and the admin views (who holds which token, how much it was used).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth import method_admin, tokens
from tessera.auth.login import LoginResult
from tessera.auth.principal import Principal
from tessera.auth.token_uses import current_usage
from tessera.crypto.access_tokens import IDENTITY_ACCESS_TOKEN_TYPE, decode_access_token
from tessera.errors import BadRequest, NotFound
from tessera.identities.models import Identity, IdentityAccessToken
from tessera.rbac.service import require_org, require_privilege_over

TOKEN_NOT_FOUND = "Token not found"  # noqa: S105 - a message
# Introspection reports expiry itself, so the JWT is checked for its signature only: decoding
# "as of" the epoch makes any exp claim lie in the future.
_SIGNATURE_ONLY = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TokenView:
    """An access token row with its identity and whether it would be accepted right now."""

    token: IdentityAccessToken
    identity: Identity
    problem: str | None

    @property
    def active(self) -> bool:
        return self.problem is None

    @property
    def uses(self) -> int:
        """Uses so far, including those this process has counted but not written yet."""
        return current_usage(self.token)[0]

    @property
    def last_used_at(self) -> datetime | None:
        return current_usage(self.token)[1]


def _view(token: IdentityAccessToken, identity: Identity, now: datetime) -> TokenView:
    facts = tokens.TokenFacts.of(tokens.TokenState(token, identity))
    return TokenView(token, identity, tokens.token_problem(facts, now))


def _audit(
    session: Session, event: str, token: IdentityAccessToken, ctx: RequestContext, now: datetime
) -> None:
    identity = session.get(Identity, token.identity_id)
    record(
        session,
        AuditEntry(
            event=event,
            org_id=identity.org_id if identity else None,
            actor_type="identity",
            actor_id=token.identity_id,
            identity_id=token.identity_id,
            auth_method=token.auth_method,
            details={"tokenId": token.id},
        ),
        ctx,
        now=now,
    )


def renew(
    session: Session, raw_token: str, *, now: datetime, secret: bytes, ctx: RequestContext
) -> LoginResult:
    """Renew a token (never past its max TTL); the response is the login response.

    Raises:
        TokenError, BadRequest, Unauthorized: as `tessera.auth.tokens.renew`.
    """
    new_jwt, row = tokens.renew(session, raw_token, now=now, secret=secret)
    _audit(session, "token_renew", row, ctx, now)
    return LoginResult(
        access_token=new_jwt,
        expires_in=row.ttl_seconds,
        access_token_max_ttl=row.max_ttl_seconds,
        token_id=row.id,
    )


def revoke(session: Session, raw_token: str, *, now: datetime, secret: bytes, ctx: RequestContext) -> None:
    """Revoke the presented token (its holder needs nothing else to do so)."""
    row = tokens.revoke(session, raw_token, now=now, secret=secret)
    _audit(session, "token_revoke", row, ctx, now)


def introspect(
    session: Session, principal: Principal, raw_token: str, *, now: datetime, secret: bytes
) -> TokenView:
    """Describe a token of the caller's organisation to an admin; the token itself is not echoed.

    Raises:
        PermissionDenied: the caller may not read identities.
        TokenError: not a token this server signed.
        NotFound: no such token in the caller's organisation.
    """
    require_org(session, principal, "read", "identity")
    claims = decode_access_token(raw_token, secret=secret, now=_SIGNATURE_ONLY)
    if claims.token_type != IDENTITY_ACCESS_TOKEN_TYPE:
        raise BadRequest("Only identity access tokens can be introspected", reason="wrong_token_type")
    found = session.execute(
        select(IdentityAccessToken, Identity)
        .join(Identity, Identity.id == IdentityAccessToken.identity_id)
        .where(IdentityAccessToken.id == claims.token_id)
    ).first()
    if found is None or found[1].org_id != principal.org_id or found[1].id != claims.identity_id:
        raise NotFound(TOKEN_NOT_FOUND, reason="token_not_found")
    return _view(found[0], found[1], now)


def list_identity_tokens(
    session: Session, principal: Principal, identity_id: str, *, now: datetime, offset: int, limit: int
) -> list[TokenView]:
    """The identity's tokens that would still be accepted (not revoked, current version, in TTL)."""
    identity = method_admin.find_identity(session, principal, identity_id, "read")
    t = IdentityAccessToken
    query = (
        select(t)
        .where(
            t.identity_id == identity.id,
            t.is_revoked.is_(False),
            t.token_version == identity.token_version,
            or_(t.expires_at.is_(None), t.expires_at >= now),
            or_(t.num_uses_limit == 0, t.num_uses < t.num_uses_limit),
        )
        .order_by(t.created_at.desc(), t.id)
        .offset(offset)
        .limit(limit)
    )
    return [_view(token, identity, now) for token in session.scalars(query)]


def admin_revoke(
    session: Session, principal: Principal, token_id: str, *, now: datetime, ctx: RequestContext
) -> IdentityAccessToken:
    """An admin revokes one token of an identity in their organisation by its id."""
    require_org(session, principal, "delete", "identity")
    found = session.execute(
        select(IdentityAccessToken, Identity)
        .join(Identity, Identity.id == IdentityAccessToken.identity_id)
        .where(IdentityAccessToken.id == token_id)
    ).first()
    if found is None or found[1].org_id != principal.org_id:
        raise NotFound(TOKEN_NOT_FOUND, reason="token_not_found")
    token, identity = found
    require_privilege_over(session, principal, identity.id, verb="revoke tokens of")
    method_admin.revoke_tokens_where(session, IdentityAccessToken.id == token.id)
    method_admin.audit_admin(
        session,
        principal,
        "token_revoke",
        identity=identity,
        method=token.auth_method,
        ctx=ctx,
        now=now,
        details={"tokenId": token.id},
    )
    session.refresh(token)
    return token


def revoke_all(
    session: Session, principal: Principal, identity_id: str, *, now: datetime, ctx: RequestContext
) -> int:
    """Revoke every access token of an identity: bump its token version and mark the rows revoked.

    Credentials (client secrets, refresh tokens) are left alone; revoke those separately.
    """
    identity = method_admin.find_identity(
        session, principal, identity_id, "edit", boundary="revoke tokens of"
    )
    tokens.bump_token_version(session, identity.id)
    revoked = tokens.revoke_identity_tokens(session, identity.id)
    method_admin.audit_admin(
        session,
        principal,
        "token_revoke_all",
        identity=identity,
        method=None,
        ctx=ctx,
        now=now,
        details={"revokedTokens": revoked},
    )
    return revoked
