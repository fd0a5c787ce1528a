"""Refresh-token credentials: attach/update/get/revoke/reissue, and the exchange for an access token.

With rotation, retiring the presented refresh token is one conditional UPDATE (`status` from
active to rotated), so two concurrent exchanges of one token cannot both succeed; the loser, like
anyone presenting a retired token later, triggers reuse handling: the credential's whole family
of refresh tokens and the access tokens they minted are revoked, and the event is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth import method_admin
from tessera.auth.login import LoginResult, identity_login_problem, issue_access_token, login_failure
from tessera.auth.principal import Principal
from tessera.auth.refresh.models import (
    METHOD,
    STATUS_ACTIVE,
    STATUS_REVOKED,
    STATUS_ROTATED,
    IdentityRefreshToken,
    IdentityRefreshTokenAuth,
)
from tessera.auth.refresh.schemas import RefreshLoginIn, RefreshTokenAuthAttachIn, RefreshTokenAuthPatchIn
from tessera.auth.refresh.verify import (
    RefreshState,
    format_refresh_token,
    parse_refresh_token,
    refresh_problem,
)
from tessera.auth.token_uses import pending_where
from tessera.auth.trusted_ips import ip_allowed
from tessera.crypto.secrets_hash import derive_key, generate_secret, hash_secret, verify_secret
from tessera.errors import ValidationFailure
from tessera.identities.models import Identity, IdentityAccessToken

LABEL = "refresh token auth"
# Matches no row: a malformed token still costs one lookup and one HMAC (timing).
_NO_ROW = "00000000-0000-0000-0000-000000000000"


def refresh_token_key(server_secret: bytes) -> bytes:
    return derive_key(server_secret, "refresh-token")


@dataclass(frozen=True, slots=True)
class CredentialView:
    """The credential with the usage of the access tokens it minted (derived from their rows)."""

    config: IdentityRefreshTokenAuth
    access_token_usage_count: int
    access_token_last_used_at: datetime | None


def _view(session: Session, config: IdentityRefreshTokenAuth) -> CredentialView:
    t = IdentityAccessToken
    minted = (
        t.identity_id == config.identity_id,
        t.auth_method == METHOD,
        # Tokens from an earlier credential of the same identity do not count.
        t.created_at >= config.created_at,
    )
    uses, last_used = session.execute(
        select(func.coalesce(func.sum(t.num_uses), 0), func.max(t.last_used_at)).where(*minted)
    ).one()
    pending, pending_last = pending_where(session, *minted)  # counted here, not yet written
    if pending_last is not None and (last_used is None or pending_last > last_used):
        last_used = pending_last
    return CredentialView(config, int(uses) + pending, last_used)


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise ValidationFailure("expiresAt", "The expiration must be in the future")


def _issue(
    session: Session,
    config: IdentityRefreshTokenAuth,
    *,
    version: int,
    now: datetime,
    key: bytes,
    parent_id: str | None = None,
) -> str:
    secret = generate_secret(32)
    row = IdentityRefreshToken(
        config_id=config.id,
        secret_hash=hash_secret(secret, key=key),
        token_version=version,
        status=STATUS_ACTIVE,
        parent_id=parent_id,
        use_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return format_refresh_token(row.id, secret)


# --- management -------------------------------------------------------------------------------


def attach(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: RefreshTokenAuthAttachIn,
    *,
    now: datetime,
    key: bytes,
    ctx: RequestContext,
) -> tuple[CredentialView, str]:
    """Create the credential and its first refresh token (returned once, stored as a keyed hash).

    Raises:
        PermissionDenied, NotFound: see `method_admin.find_identity`.
        BadRequest: already attached. ValidationFailure: expiration not in the future.
    """
    identity = method_admin.find_identity(
        session, principal, identity_id, "create", boundary="create credentials for"
    )
    _check_expiry(body.expires_at, now)
    config = IdentityRefreshTokenAuth(
        identity_id=identity.id,
        rotation_enabled=body.refresh_token_rotation_enabled,
        expires_at=body.expires_at,
        token_version=1,
        refresh_token_usage_count=0,
        created_at=now,
        updated_at=now,
    )
    config.set_policy(body.to_policy())
    method_admin.add_config(session, config, LABEL)
    plaintext = _issue(session, config, version=1, now=now, key=key)
    method_admin.audit_admin(
        session, principal, "auth_method_attach", identity=identity, method=METHOD, ctx=ctx, now=now
    )
    return _view(session, config), plaintext


def update_config(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: RefreshTokenAuthPatchIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> CredentialView:
    identity = method_admin.find_identity(session, principal, identity_id, "edit", boundary="change auth of")
    config = method_admin.require_config(session, IdentityRefreshTokenAuth, identity.id, LABEL)
    method_admin.patch_policy(session, config, body, METHOD, now=now)
    if body.refresh_token_rotation_enabled is not None:
        config.rotation_enabled = body.refresh_token_rotation_enabled
    if "expires_at" in body.model_fields_set:
        _check_expiry(body.expires_at, now)
        config.expires_at = body.expires_at
    session.flush()
    method_admin.audit_admin(
        session, principal, "auth_method_update", identity=identity, method=METHOD, ctx=ctx, now=now
    )
    return _view(session, config)


def get_config(session: Session, principal: Principal, identity_id: str) -> CredentialView:
    identity = method_admin.find_identity(session, principal, identity_id, "read")
    return _view(session, method_admin.require_config(session, IdentityRefreshTokenAuth, identity.id, LABEL))


def revoke_config(
    session: Session, principal: Principal, identity_id: str, *, now: datetime, ctx: RequestContext
) -> CredentialView:
    """Remove the credential: its refresh tokens go with it and every token it minted is revoked."""
    identity = method_admin.find_identity(session, principal, identity_id, "edit", boundary="change auth of")
    config = method_admin.require_config(session, IdentityRefreshTokenAuth, identity.id, LABEL)
    view = _view(session, config)
    revoked = method_admin.remove_config(session, config, METHOD)
    method_admin.audit_admin(
        session,
        principal,
        "auth_method_revoke",
        identity=identity,
        method=METHOD,
        ctx=ctx,
        now=now,
        details={"revokedTokens": revoked},
    )
    return view


def reissue(
    session: Session,
    principal: Principal,
    identity_id: str,
    *,
    now: datetime,
    key: bytes,
    ctx: RequestContext,
) -> tuple[CredentialView, str]:
    """Replace the refresh token: every earlier one is revoked, a new one is returned once.

    Access tokens already minted keep working until their own TTL (revoke them separately).
    """
    identity = method_admin.find_identity(
        session, principal, identity_id, "edit", boundary="create credentials for"
    )
    config = method_admin.require_config(session, IdentityRefreshTokenAuth, identity.id, LABEL)
    _revoke_refresh_tokens(session, config.id)
    version = _bump_version(session, config.id, now=now, count_use=False)
    plaintext = _issue(session, config, version=version, now=now, key=key)
    session.refresh(config)
    method_admin.audit_admin(
        session, principal, "refresh_token_reissue", identity=identity, method=METHOD, ctx=ctx, now=now
    )
    return _view(session, config), plaintext


# --- exchange ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangeResult:
    login: LoginResult
    refresh_token: str | None  # the successor, when rotation is enabled


def exchange(
    session: Session,
    body: RefreshLoginIn,
    *,
    now: datetime,
    key: bytes,
    signing_secret: bytes,
    ctx: RequestContext,
) -> ExchangeResult:
    """Exchange a refresh token for an access token (and, with rotation, a new refresh token).

    Raises:
        InvalidCredentials: for every failure; a reused refresh token also revokes the family
        (kept despite the failure) and is audited as `refresh_token_reuse`.
    """
    parsed = parse_refresh_token(body.refresh_token)
    token_id, presented = parsed if parsed is not None else (_NO_ROW, body.refresh_token)
    found = session.execute(
        select(IdentityRefreshToken, IdentityRefreshTokenAuth, Identity)
        .join(IdentityRefreshTokenAuth, IdentityRefreshTokenAuth.id == IdentityRefreshToken.config_id)
        .join(Identity, Identity.id == IdentityRefreshTokenAuth.identity_id)
        .where(IdentityRefreshToken.id == token_id)
    ).first()
    matches = verify_secret(presented, found[0].secret_hash if found is not None else None, key=key)
    if found is None or not matches:
        raise login_failure(
            "refresh_token_not_found" if found is None else "refresh_token_mismatch", method=METHOD
        )
    token, config, identity = found
    fail = partial(login_failure, method=METHOD, identity_id=identity.id, org_id=identity.org_id)
    problem = refresh_problem(RefreshState(token.status, config.expires_at), now)
    if problem == "refresh_token_reused":
        revoked = _revoke_family(session, config, token, now=now, ctx=ctx)
        raise fail(problem, details={"refreshTokenId": token.id, "revokedTokens": revoked}, persist=True)
    problem = problem or identity_login_problem(identity, now)
    if problem is None and not ip_allowed(ctx.client_ip, config.access_token_trusted_ips):
        problem = "ip_not_trusted"
    if problem is not None:
        raise fail(problem, details={"refreshTokenId": token.id})
    successor = None
    if not _take(session, token.id, now=now, rotate=config.rotation_enabled):
        # Another exchange retired (or someone revoked) this token since we read it: the same
        # token was presented twice, which is what reuse means.
        revoked = _revoke_family(session, config, token, now=now, ctx=ctx)
        details = {"refreshTokenId": token.id, "revokedTokens": revoked, "race": True}
        raise fail("refresh_token_reused", details=details, persist=True)
    version = _bump_version(session, config.id, now=now, count_use=True, rotate=config.rotation_enabled)
    if config.rotation_enabled:
        successor = _issue(session, config, version=version, now=now, key=key, parent_id=token.id)
    login = issue_access_token(
        session,
        identity=identity,
        method=METHOD,
        policy=config.policy(),
        now=now,
        signing_secret=signing_secret,
        ctx=ctx,
        audit_details={"refreshTokenId": token.id, "rotated": config.rotation_enabled},
    )
    return ExchangeResult(login=login, refresh_token=successor)


def _take(session: Session, token_id: str, *, now: datetime, rotate: bool) -> bool:
    """Use the refresh token in one conditional UPDATE; with rotation this also retires it."""
    rt = IdentityRefreshToken
    values: dict[str, object] = {"use_count": rt.use_count + 1, "last_used_at": now, "updated_at": now}
    if rotate:
        values.update(status=STATUS_ROTATED, rotated_at=now)
    result = session.execute(
        update(rt)
        .where(rt.id == token_id, rt.status == STATUS_ACTIVE)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _bump_version(
    session: Session, config_id: str, *, now: datetime, count_use: bool, rotate: bool = True
) -> int:
    """Record the exchange on the credential (usage count, last use, generation) in one UPDATE."""
    c = IdentityRefreshTokenAuth
    values: dict[str, object] = {"updated_at": now}
    if rotate:
        values["token_version"] = c.token_version + 1
    if count_use:
        values.update(
            refresh_token_usage_count=c.refresh_token_usage_count + 1, refresh_token_last_used_at=now
        )
    statement = (
        update(c)
        .where(c.id == config_id)
        .values(values)
        .returning(c.token_version)
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).scalar_one())


def _revoke_refresh_tokens(session: Session, config_id: str) -> int:
    rt = IdentityRefreshToken
    result = session.execute(
        update(rt)
        .where(rt.config_id == config_id, rt.status != STATUS_REVOKED)
        .values(status=STATUS_REVOKED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _revoke_family(
    session: Session,
    config: IdentityRefreshTokenAuth,
    token: IdentityRefreshToken,
    *,
    now: datetime,
    ctx: RequestContext,
) -> int:
    """Reuse detected: revoke every refresh token of the credential and every access token it minted."""
    refresh_revoked = _revoke_refresh_tokens(session, config.id)
    access_revoked = method_admin.revoke_tokens_where(
        session,
        IdentityAccessToken.identity_id == config.identity_id,
        IdentityAccessToken.auth_method == METHOD,
    )
    identity = session.get(Identity, config.identity_id)
    record(
        session,
        AuditEntry(
            event="refresh_token_reuse",
            outcome="failure",
            reason="refresh_token_reused",
            org_id=identity.org_id if identity else None,
            actor_type="anonymous",
            identity_id=config.identity_id,
            auth_method=METHOD,
            details={
                "refreshTokenId": token.id,
                "tokenVersion": token.token_version,
                "revokedRefreshTokens": refresh_revoked,
                "revokedAccessTokens": access_revoked,
            },
        ),
        ctx,
        now=now,
    )
    return access_revoked
