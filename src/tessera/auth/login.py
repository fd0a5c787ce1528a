"""The one place an access token is minted, used by every auth method after its own checks pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.policy import TokenPolicy
from tessera.auth.trusted_ips import ip_allowed
from tessera.clock import as_utc
from tessera.crypto.access_tokens import encode_access_token
from tessera.errors import InvalidCredentials
from tessera.identities.models import Identity, IdentityAccessToken, IdentityOrgMembership
from tessera.observability.metrics import record_login, session_metrics
from tessera.store.base import new_id


@dataclass(frozen=True, slots=True)
class LoginResult:
    access_token: str
    expires_in: int
    access_token_max_ttl: int
    token_id: str

    def to_wire(self) -> dict[str, Any]:
        """Exactly the four keys Infisical clients require."""
        return {
            "accessToken": self.access_token,
            "expiresIn": self.expires_in,
            "accessTokenMaxTTL": self.access_token_max_ttl,
            "tokenType": "Bearer",
        }


def login_failure(
    reason: str,
    *,
    method: str,
    identity_id: str | None = None,
    org_id: str | None = None,
    details: dict[str, Any] | None = None,
    persist: bool = False,
) -> InvalidCredentials:
    """The uniform login failure: one status and message outside, the real reason in the audit log."""
    return InvalidCredentials(
        reason=reason,
        persist=persist,
        audit={
            "event": "login",
            "auth_method": method,
            "identity_id": identity_id,
            "org_id": org_id,
            "details": details or {},
        },
    )


def identity_login_problem(identity: Identity | None, now: datetime) -> str | None:
    """Pure: why this identity may not log in right now, or None."""
    if identity is None:
        return "identity_not_found"
    if not identity.is_active:
        return "identity_disabled"
    if identity.expires_at is not None and as_utc(identity.expires_at) <= now:
        return "identity_expired"
    return None


def issue_access_token(
    session: Session,
    *,
    identity: Identity,
    method: str,
    policy: TokenPolicy,
    now: datetime,
    signing_secret: bytes,
    ctx: RequestContext,
    client_secret_id: str | None = None,
    name: str | None = None,
    audit_details: dict[str, Any] | None = None,
    check_login_ip: bool = True,
) -> LoginResult:
    """Mint a token under `policy` for an identity whose credentials the caller already verified.

    Raises:
        InvalidCredentials: the identity is disabled or expired, or the client IP is not trusted.
    """
    problem = identity_login_problem(identity, now)
    if problem is not None:
        raise login_failure(problem, method=method, identity_id=identity.id, org_id=identity.org_id)
    if check_login_ip and not ip_allowed(ctx.client_ip, policy.trusted_ips):
        raise login_failure("ip_not_trusted", method=method, identity_id=identity.id, org_id=identity.org_id)

    token_id, expires_at = new_id(), policy.expiry_from(now)
    # A plain INSERT (see _INSERT_TOKEN); the row's defaults (uses 0, not revoked) come from the table.
    session.connection().execute(
        _INSERT_TOKEN,
        {
            "id": token_id,
            "identity_id": identity.id,
            "auth_method": method,
            "client_secret_id": client_secret_id,
            "name": name,
            "ttl_seconds": policy.ttl,
            "max_ttl_seconds": policy.max_ttl,
            "num_uses_limit": policy.num_uses_limit,
            "trusted_ips": policy.trusted_ips,
            "token_version": identity.token_version,
            "expires_at": expires_at,
            "max_expires_at": policy.max_expiry_from(now),
            "created_ip": ctx.client_ip,
            "created_at": now,
            "updated_at": now,
        },
    )
    _record_last_login(session, identity, method, now)
    record(
        session,
        AuditEntry(
            event="login",
            org_id=identity.org_id,
            actor_type="identity",
            actor_id=identity.id,
            identity_id=identity.id,
            auth_method=method,
            details={"tokenId": token_id, **(audit_details or {})},
        ),
        ctx,
        now=now,
    )
    token = encode_access_token(
        identity_id=identity.id,
        token_id=token_id,
        secret=signing_secret,
        issued_at=now,
        expires_at=expires_at,
        client_secret_id=client_secret_id,
    )
    # Failures are counted where they are audited (the request edge); successes here, once.
    record_login(session_metrics(session), method, "success")
    return LoginResult(
        access_token=token, expires_in=policy.ttl, access_token_max_ttl=policy.max_ttl, token_id=token_id
    )


# Every login writes one token row and no entity of it is read back in the request: a Core INSERT
# skips the ORM's unit of work, the costliest part of a login.
_INSERT_TOKEN = insert(IdentityAccessToken)

# Built once: every login runs it, and composing it (plus the ORM's in-session bookkeeping for
# a bulk UPDATE) cost more CPU than the whole rest of minting a token.
_RECORD_LAST_LOGIN = (
    update(IdentityOrgMembership)
    .where(
        IdentityOrgMembership.identity_id == bindparam("p_identity_id"),
        IdentityOrgMembership.org_id == bindparam("p_org_id"),
    )
    .values(last_login_auth_method=bindparam("p_method"), last_login_time=bindparam("p_now"))
    .execution_options(synchronize_session=False)
)


def _record_last_login(session: Session, identity: Identity, method: str, now: datetime) -> None:
    session.connection().execute(
        _RECORD_LAST_LOGIN,
        {"p_identity_id": identity.id, "p_org_id": identity.org_id, "p_method": method, "p_now": now},
    )
    # What the ORM's "evaluate" synchronisation did: a membership row this session already holds
    # shows the new values too (as committed state, so it is not written again).
    for held in list(session.identity_map.values()):
        if (
            isinstance(held, IdentityOrgMembership)
            and held.identity_id == identity.id
            and held.org_id == identity.org_id
        ):
            set_committed_value(held, "last_login_auth_method", method)
            set_committed_value(held, "last_login_time", now)


def load_identity(session: Session, identity_id: str) -> Identity | None:
    return session.scalar(select(Identity).where(Identity.id == identity_id))
