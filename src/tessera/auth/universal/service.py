"""Universal Auth: manage the config and client secrets, and log in with a client id and secret.

Every login failure is the same 401 "Invalid credentials" outside; the reason goes to the audit
log. Counters (failed logins, secret uses) change in single conditional UPDATEs so concurrent
logins cannot overshoot a limit, and a secret's use is consumed only after every check passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import and_, bindparam, case, literal, or_, select, update
from sqlalchemy.orm import Session

from tessera.audit.service import RequestContext
from tessera.auth import method_admin
from tessera.auth.login import LoginResult, identity_login_problem, issue_access_token, login_failure
from tessera.auth.principal import Principal
from tessera.auth.trusted_ips import ip_allowed
from tessera.auth.universal.models import METHOD, IdentityUAClientSecret, IdentityUniversalAuth
from tessera.auth.universal.schemas import (
    ClientSecretCreateIn,
    UniversalAuthAttachIn,
    UniversalAuthLoginIn,
    UniversalAuthPatchIn,
    parse_trusted_ips,
)
from tessera.auth.universal.verify import (
    SecretState,
    hash_new_secret,
    is_locked,
    match_secret,
    secret_prefix,
    secret_problem,
)
from tessera.clock import as_utc
from tessera.crypto.secrets_hash import derive_key, generate_secret
from tessera.errors import NotFound
from tessera.identities.models import Identity, IdentityAccessToken
from tessera.store.base import UTCDateTime

LABEL = "universal auth"
CLIENT_SECRET_NOT_FOUND = "Failed to find client secret"  # noqa: S105 - a message
# Matches no row: the unknown-client-id path runs the same queries as a real one (timing).
_NO_ROW = "00000000-0000-0000-0000-000000000000"


def client_secret_key(server_secret: bytes) -> bytes:
    """The HMAC key for client secrets, derived so it is useless for anything else."""
    return derive_key(server_secret, "universal-auth-client-secret")


# --- configuration ----------------------------------------------------------------------------


def attach(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: UniversalAuthAttachIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> IdentityUniversalAuth:
    """Attach Universal Auth with a fresh random client id.

    Raises:
        PermissionDenied, NotFound: see `method_admin.find_identity`.
        BadRequest: already attached.
    """
    identity = method_admin.find_identity(
        session, principal, identity_id, "create", boundary="change auth of"
    )
    config = IdentityUniversalAuth(
        identity_id=identity.id,
        client_secret_trusted_ips=parse_trusted_ips(body.client_secret_trusted_ips),
        lockout_enabled=body.lockout_enabled,
        lockout_threshold=body.lockout_threshold,
        lockout_duration_seconds=body.lockout_duration_seconds,
        lockout_counter_reset_seconds=body.lockout_counter_reset_seconds,
        created_at=now,
        updated_at=now,
    )
    config.set_policy(body.to_policy())
    method_admin.add_config(session, config, LABEL)
    method_admin.audit_admin(
        session, principal, "auth_method_attach", identity=identity, method=METHOD, ctx=ctx, now=now
    )
    return config


def update_config(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: UniversalAuthPatchIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> IdentityUniversalAuth:
    """Change the policy or lockout settings; omitted fields keep their values."""
    identity = method_admin.find_identity(session, principal, identity_id, "edit", boundary="change auth of")
    config = method_admin.require_config(session, IdentityUniversalAuth, identity.id, LABEL)
    method_admin.patch_policy(session, config, body, METHOD, now=now)
    if body.client_secret_trusted_ips is not None:
        config.client_secret_trusted_ips = parse_trusted_ips(body.client_secret_trusted_ips)
    for field in (
        "lockout_enabled",
        "lockout_threshold",
        "lockout_duration_seconds",
        "lockout_counter_reset_seconds",
    ):
        value = getattr(body, field)
        if value is not None:
            setattr(config, field, value)
    session.flush()
    method_admin.audit_admin(
        session, principal, "auth_method_update", identity=identity, method=METHOD, ctx=ctx, now=now
    )
    return config


def get_config(session: Session, principal: Principal, identity_id: str) -> IdentityUniversalAuth:
    identity = method_admin.find_identity(session, principal, identity_id, "read")
    return method_admin.require_config(session, IdentityUniversalAuth, identity.id, LABEL)


def revoke_config(
    session: Session, principal: Principal, identity_id: str, *, now: datetime, ctx: RequestContext
) -> IdentityUniversalAuth:
    """Remove Universal Auth: its client secrets go with it and every token it minted is revoked."""
    identity = method_admin.find_identity(session, principal, identity_id, "edit", boundary="change auth of")
    config = method_admin.require_config(session, IdentityUniversalAuth, identity.id, LABEL)
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
    return config


def clear_lockouts(
    session: Session, principal: Principal, identity_id: str, *, now: datetime, ctx: RequestContext
) -> int:
    identity = method_admin.find_identity(session, principal, identity_id, "edit", boundary="change auth of")
    config = method_admin.require_config(session, IdentityUniversalAuth, identity.id, LABEL)
    cleared = _reset_lockout(session, config.id)
    method_admin.audit_admin(
        session, principal, "auth_lockout_clear", identity=identity, method=METHOD, ctx=ctx, now=now
    )
    return cleared


# --- client secrets ---------------------------------------------------------------------------


def create_client_secret(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: ClientSecretCreateIn,
    *,
    now: datetime,
    key: bytes,
    ctx: RequestContext,
) -> tuple[str, IdentityUAClientSecret]:
    """Make a client secret; the plaintext is returned here once and only its keyed hash is kept."""
    identity = method_admin.find_identity(
        session, principal, identity_id, "create", boundary="create credentials for"
    )
    config = method_admin.require_config(session, IdentityUniversalAuth, identity.id, LABEL)
    plaintext = generate_secret(32)
    row = IdentityUAClientSecret(
        identity_ua_id=config.id,
        description=body.description,
        secret_prefix=secret_prefix(plaintext),
        secret_hash=hash_new_secret(plaintext, key=key),
        num_uses=0,
        num_uses_limit=body.num_uses_limit,
        ttl_seconds=body.ttl,
        expires_at=now + timedelta(seconds=body.ttl) if body.ttl > 0 else None,
        is_revoked=False,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    method_admin.audit_admin(
        session,
        principal,
        "client_secret_create",
        identity=identity,
        method=METHOD,
        ctx=ctx,
        now=now,
        details={"clientSecretId": row.id},
    )
    return plaintext, row


def list_client_secrets(
    session: Session, principal: Principal, identity_id: str
) -> list[IdentityUAClientSecret]:
    """The identity's client secrets that are not revoked, newest first."""
    identity = method_admin.find_identity(session, principal, identity_id, "read")
    config = method_admin.require_config(session, IdentityUniversalAuth, identity.id, LABEL)
    query = (
        select(IdentityUAClientSecret)
        .where(
            IdentityUAClientSecret.identity_ua_id == config.id, IdentityUAClientSecret.is_revoked.is_(False)
        )
        .order_by(IdentityUAClientSecret.created_at.desc(), IdentityUAClientSecret.id)
    )
    return list(session.scalars(query))


def _client_secret(
    session: Session, principal: Principal, identity_id: str, secret_id: str, action: str
) -> tuple[Identity, IdentityUAClientSecret]:
    identity = method_admin.find_identity(
        session,
        principal,
        identity_id,
        action,
        boundary=None if action == "read" else "revoke credentials of",
    )
    config = method_admin.require_config(session, IdentityUniversalAuth, identity.id, LABEL)
    row = session.get(IdentityUAClientSecret, secret_id)
    if row is None or row.identity_ua_id != config.id:
        raise NotFound(CLIENT_SECRET_NOT_FOUND, reason="client_secret_not_found")
    return identity, row


def get_client_secret(
    session: Session, principal: Principal, identity_id: str, secret_id: str
) -> IdentityUAClientSecret:
    return _client_secret(session, principal, identity_id, secret_id, "read")[1]


def revoke_client_secret(
    session: Session,
    principal: Principal,
    identity_id: str,
    secret_id: str,
    *,
    now: datetime,
    ctx: RequestContext,
) -> IdentityUAClientSecret:
    """Revoke a client secret and every access token minted with it."""
    identity, row = _client_secret(session, principal, identity_id, secret_id, "delete")
    row.is_revoked = True
    row.updated_at = now
    session.flush()
    revoked = method_admin.revoke_tokens_where(session, IdentityAccessToken.client_secret_id == row.id)
    method_admin.audit_admin(
        session,
        principal,
        "client_secret_revoke",
        identity=identity,
        method=METHOD,
        ctx=ctx,
        now=now,
        details={"clientSecretId": row.id, "revokedTokens": revoked},
    )
    return row


# --- login ------------------------------------------------------------------------------------

# The statements every login runs, built once: composing SQL expressions costs more CPU than
# running these indexed queries.
_CS = IdentityUAClientSecret
_UA = IdentityUniversalAuth
_CONFIG_BY_CLIENT_ID = (
    select(_UA, Identity)
    .join(Identity, Identity.id == _UA.identity_id)
    .where(_UA.client_id == bindparam("p_client_id"))
)
_CANDIDATES = select(_CS).where(
    _CS.identity_ua_id == bindparam("p_config_id"), _CS.secret_prefix == bindparam("p_prefix")
)
_CONSUME_SECRET = (
    update(_CS)
    .where(
        _CS.id == bindparam("p_secret_id"),
        _CS.is_revoked.is_(False),
        or_(_CS.num_uses_limit == 0, _CS.num_uses < _CS.num_uses_limit),
        or_(_CS.expires_at.is_(None), _CS.expires_at > bindparam("p_now")),
    )
    .values(
        num_uses=_CS.num_uses + 1,
        last_used_at=bindparam("p_now"),
        is_revoked=and_(_CS.num_uses_limit > 0, _CS.num_uses + 1 >= _CS.num_uses_limit),
    )
    .execution_options(synchronize_session=False)
)
_RESET_LOCKOUT = (
    update(_UA)
    .where(
        _UA.id == bindparam("p_config_id"),
        or_(
            _UA.lockout_failed_attempts > 0,
            _UA.lockout_window_started_at.is_not(None),
            _UA.locked_until.is_not(None),
        ),
    )
    .values(lockout_failed_attempts=0, lockout_window_started_at=None, locked_until=None)
    .execution_options(synchronize_session=False)
)


def login(
    session: Session,
    body: UniversalAuthLoginIn,
    *,
    now: datetime,
    key: bytes,
    signing_secret: bytes,
    ctx: RequestContext,
) -> LoginResult:
    """Exchange a client id and secret for an access token.

    Raises:
        InvalidCredentials: for every failure (unknown client id, login IP not trusted, locked
        out, wrong/revoked/expired/exhausted secret, identity disabled or expired).
    """
    found = session.execute(_CONFIG_BY_CLIENT_ID, {"p_client_id": body.client_id}).first()
    config, identity = (found[0], found[1]) if found is not None else (None, None)
    candidates = _candidates(session, config.id if config else _NO_ROW, body.client_secret)
    matched_id = match_secret(body.client_secret, [(c.id, c.secret_hash) for c in candidates], key=key)
    if config is None or identity is None:
        _count_failure(session, None, now)
        raise login_failure("client_id_not_found", method=METHOD)

    fail = partial(login_failure, method=METHOD, identity_id=identity.id, org_id=identity.org_id)
    if not ip_allowed(ctx.client_ip, config.client_secret_trusted_ips):
        raise fail("client_ip_not_trusted")
    # During a lockout the secret is not even looked at, so guessing on cannot succeed.
    if is_locked(config.lockout_enabled, config.locked_until, now):
        raise fail("locked_out")
    secret = next((c for c in candidates if c.id == matched_id), None)
    if secret is None:
        locked = _count_failure(session, config, now)
        raise fail("invalid_client_secret", details={"lockedOut": locked}, persist=True)
    problem = _usable_or_problem(session, secret, now)
    if problem is not None:
        details = {"clientSecretId": secret.id}
        raise fail(problem, details=details, persist=problem == "client_secret_expired")
    problem = identity_login_problem(identity, now)
    if problem is None and not ip_allowed(ctx.client_ip, config.access_token_trusted_ips):
        problem = "ip_not_trusted"
    if problem is not None:
        raise fail(problem)
    # Every check passed: now, and only now, take one use of the secret.
    if not _consume(session, secret.id, now):
        raise fail("client_secret_uses_exhausted", details={"clientSecretId": secret.id, "race": True})
    if config.lockout_failed_attempts or config.lockout_window_started_at or config.locked_until:
        _reset_lockout(session, config.id)  # most logins have no failures to forget: no statement
    return issue_access_token(
        session,
        identity=identity,
        method=METHOD,
        policy=config.policy(),
        now=now,
        signing_secret=signing_secret,
        ctx=ctx,
        client_secret_id=secret.id,
        audit_details={"clientSecretId": secret.id},
    )


def _candidates(session: Session, config_id: str, presented: str) -> list[IdentityUAClientSecret]:
    # Revoked secrets are candidates too, so that the audit log can say "revoked" rather than
    # "wrong secret"; the caller sees the same answer either way.
    params = {"p_config_id": config_id, "p_prefix": secret_prefix(presented)}
    return list(session.scalars(_CANDIDATES, params))


def _usable_or_problem(session: Session, secret: IdentityUAClientSecret, now: datetime) -> str | None:
    """Why the matched secret may not be used (None if it may); an expired one is marked revoked."""
    state = SecretState(
        is_revoked=secret.is_revoked,
        num_uses=secret.num_uses,
        num_uses_limit=secret.num_uses_limit,
        expires_at=secret.expires_at,
    )
    problem = secret_problem(state, now)
    if problem == "client_secret_expired":
        # Kept despite the failure (the caller raises with persist) so listings stop showing it.
        session.execute(
            update(IdentityUAClientSecret)
            .where(IdentityUAClientSecret.id == secret.id)
            .values(is_revoked=True)
            .execution_options(synchronize_session=False)
        )
    return problem


def _consume(session: Session, secret_id: str, now: datetime) -> bool:
    """Take one use in one conditional UPDATE; the use that reaches the limit also revokes the secret.

    That automatic revocation does not touch tokens already minted (unlike an admin's revoke).
    """
    # On the connection: the statement touches no loaded entity, and the ORM's bulk-UPDATE
    # machinery costs more than the UPDATE itself.
    result = session.connection().execute(_CONSUME_SECRET, {"p_secret_id": secret_id, "p_now": now})
    return result.rowcount == 1


def _count_failure(session: Session, config: IdentityUniversalAuth | None, now: datetime) -> bool:
    """Count a failed login in one conditional UPDATE; returns True when this failure locked it out.

    Failures older than the reset window start a new count; reaching the threshold sets the lock
    and clears the count. The unknown-client-id path runs it too (matching no row) for timing.
    """
    ua = IdentityUniversalAuth
    reset = config.lockout_counter_reset_seconds if config else 0
    duration = config.lockout_duration_seconds if config else 0
    in_window = and_(
        ua.lockout_window_started_at.is_not(None),
        ua.lockout_window_started_at > now - timedelta(seconds=reset),
    )
    attempts = case((in_window, ua.lockout_failed_attempts + 1), else_=1)
    reached = attempts >= ua.lockout_threshold
    statement = (
        update(ua)
        .where(ua.id == (config.id if config else _NO_ROW), ua.lockout_enabled.is_(True))
        .values(
            lockout_failed_attempts=case((reached, 0), else_=attempts),
            lockout_window_started_at=case(
                (reached, literal(None, UTCDateTime())),
                (in_window, ua.lockout_window_started_at),
                else_=literal(now, UTCDateTime()),
            ),
            locked_until=case(
                (reached, literal(now + timedelta(seconds=duration), UTCDateTime())),
                else_=ua.locked_until,
            ),
        )
        .returning(ua.locked_until)
        .execution_options(synchronize_session=False)
    )
    row = session.execute(statement).first()
    return row is not None and row[0] is not None and as_utc(row[0]) > now


def _reset_lockout(session: Session, config_id: str) -> int:
    """Forget failures (after a successful login or an admin's clear); writes only when needed."""
    result = session.execute(_RESET_LOCKOUT, {"p_config_id": config_id})
    return int(result.rowcount)  # type: ignore[attr-defined]
