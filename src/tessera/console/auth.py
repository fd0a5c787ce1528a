"""People's sign-in for the console: passwords, server-side sessions and the sign-in throttle.

The cookie carries a random session id; the database keeps only its keyed hash. A session ends
after an idle period or at an absolute limit, whichever comes first, both enforced in the one
conditional UPDATE that also records the activity. Failed sign-ins are counted per (email,
client IP) and lock that pair out for a while; the counter changes in single conditional
UPDATEs so concurrent attempts cannot slip past the limit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, and_, case, delete, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.console.models import ConsoleLoginThrottle, ConsoleSession
from tessera.crypto.passwords import verify_password
from tessera.crypto.secrets_hash import derive_key, hash_secret
from tessera.errors import InvalidCredentials, RateLimited
from tessera.orgs.models import Organization, OrgUserMembership, User
from tessera.store.base import UTCDateTime

SIGN_IN_FAILED = "The email or password is not correct"
LOCKED_OUT = "Too many failed sign-ins from here for this email. Try again later."


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_seconds: int
    max_seconds: int


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_failures: int
    lockout_seconds: int


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a valid session cookie resolves to."""

    session_id: str
    user_id: str
    email: str
    org_id: str
    org_name: str
    role: str


def session_key(signing_secret: bytes) -> bytes:
    return derive_key(signing_secret, "console-session")


def throttle_key(signing_secret: bytes) -> bytes:
    return derive_key(signing_secret, "console-sign-in-throttle")


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


# --- sessions --------------------------------------------------------------------------------


def start_session(
    session: Session,
    *,
    user: User,
    org_id: str,
    now: datetime,
    policy: SessionPolicy,
    key: bytes,
    ctx: RequestContext,
) -> str:
    """Create a session row and return the raw id for the cookie (never stored)."""
    raw = new_session_token()
    session.add(
        ConsoleSession(
            token_hash=hash_secret(raw, key=key),
            user_id=user.id,
            org_id=org_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=policy.max_seconds),
            created_ip=ctx.client_ip,
            user_agent=(ctx.user_agent or "")[:512] or None,
        )
    )
    session.flush()
    return raw


def resolve_session(
    session: Session, raw: str | None, *, now: datetime, policy: SessionPolicy, key: bytes
) -> SignedIn | None:
    """The person behind a session cookie, or None when it is unknown, idle too long or past its end.

    Touching `last_seen_at` and checking both limits is one conditional UPDATE, so an expired
    session cannot be revived by a request racing its expiry.
    """
    if not raw or len(raw) > 128:
        return None
    token_hash = hash_secret(raw, key=key)
    idle_cutoff = now - timedelta(seconds=policy.idle_seconds)
    touched: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ConsoleSession)
        .where(
            ConsoleSession.token_hash == token_hash,
            ConsoleSession.expires_at > now,
            ConsoleSession.last_seen_at > idle_cutoff,
        )
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount != 1:
        # Expired rows are of no further use; removing them keeps the table small.
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))
        return None
    row = session.execute(
        select(
            ConsoleSession.id, User.id, User.email, Organization.id, Organization.name, OrgUserMembership.role
        )
        .join(User, User.id == ConsoleSession.user_id)
        .join(Organization, Organization.id == ConsoleSession.org_id)
        .join(
            OrgUserMembership,
            and_(OrgUserMembership.user_id == User.id, OrgUserMembership.org_id == Organization.id),
        )
        .where(ConsoleSession.token_hash == token_hash, User.is_active.is_(True))
    ).first()
    if row is None:
        return None
    return SignedIn(
        session_id=row[0], user_id=row[1], email=row[2], org_id=row[3], org_name=row[4], role=row[5]
    )


def end_session(session: Session, raw: str | None, *, key: bytes) -> bool:
    """Delete the session behind a cookie; True when there was one."""
    if not raw or len(raw) > 128:
        return False
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(ConsoleSession).where(ConsoleSession.token_hash == hash_secret(raw, key=key))
    )
    return result.rowcount == 1


def end_user_sessions(session: Session, user_id: str) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(ConsoleSession).where(ConsoleSession.user_id == user_id)
    )
    return int(result.rowcount)


# --- sign-in ---------------------------------------------------------------------------------


def _throttle_hash(email: str, client_ip: str | None, key: bytes) -> str:
    return hash_secret(f"{email}\n{client_ip or '-'}", key=key)


def is_locked(session: Session, key_hash: str, now: datetime) -> bool:
    locked_until = session.scalar(
        select(ConsoleLoginThrottle.locked_until).where(ConsoleLoginThrottle.key_hash == key_hash)
    )
    return locked_until is not None and locked_until > now


def record_failure(session: Session, key_hash: str, now: datetime, policy: ThrottlePolicy) -> None:
    """Count one failure: restart the window when it is over, lock out when the limit is reached."""
    if _bump_failures(session, key_hash, now, policy):
        return
    try:
        with session.begin_nested():
            locked = now + timedelta(seconds=policy.lockout_seconds) if policy.max_failures <= 1 else None
            session.add(
                ConsoleLoginThrottle(
                    key_hash=key_hash, failures=1, window_started_at=now, locked_until=locked
                )
            )
    except IntegrityError:
        # Another attempt inserted the row first; count this one against it.
        _bump_failures(session, key_hash, now, policy)


def _bump_failures(session: Session, key_hash: str, now: datetime, policy: ThrottlePolicy) -> bool:
    at_now = literal(now, UTCDateTime())
    window_over = ConsoleLoginThrottle.window_started_at <= now - timedelta(seconds=policy.lockout_seconds)
    failures = case((window_over, 1), else_=ConsoleLoginThrottle.failures + 1)
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ConsoleLoginThrottle)
        .where(ConsoleLoginThrottle.key_hash == key_hash)
        .values(
            failures=failures,
            window_started_at=case((window_over, at_now), else_=ConsoleLoginThrottle.window_started_at),
            locked_until=case(
                (
                    failures >= policy.max_failures,
                    literal(now + timedelta(seconds=policy.lockout_seconds), UTCDateTime()),
                ),
                else_=ConsoleLoginThrottle.locked_until,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def clear_failures(session: Session, key_hash: str) -> None:
    session.execute(delete(ConsoleLoginThrottle).where(ConsoleLoginThrottle.key_hash == key_hash))


def _admin_org(session: Session, user_id: str) -> str | None:
    """The organisation the console opens on: the person's oldest membership."""
    return session.scalar(
        select(OrgUserMembership.org_id)
        .where(OrgUserMembership.user_id == user_id)
        .order_by(OrgUserMembership.created_at, OrgUserMembership.id)
        .limit(1)
    )


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    now: datetime,
    ctx: RequestContext,
    throttle: ThrottlePolicy,
    throttle_secret: bytes,
) -> tuple[User, str]:
    """Check a person's email and password; returns the user and the organisation to open.

    The failure counter is written before raising and the error asks for it to be kept
    (`persist`), so a failed attempt always counts.

    Raises:
        RateLimited: this email has failed too often from this address; the password is not tried.
        InvalidCredentials: unknown email, wrong password, disabled person or no organisation —
            one message for all, the reason goes to the audit log.
    """
    email = email.strip().lower()
    key_hash = _throttle_hash(email, ctx.client_ip, throttle_secret)
    audit: dict[str, Any] = {"event": "console.sign_in", "actor_type": "user", "details": {"email": email}}
    if is_locked(session, key_hash, now):
        raise RateLimited(LOCKED_OUT, reason="console_locked_out", audit=audit)
    user = session.scalar(select(User).where(User.email == email))
    password_ok = verify_password(user.password_hash if user else None, password)
    org_id = _admin_org(session, user.id) if user is not None else None
    reason = _sign_in_problem(user, password_ok, org_id)
    if reason is not None or user is None or org_id is None:
        record_failure(session, key_hash, now, throttle)
        audit["actor_id"] = user.id if user is not None else None
        raise InvalidCredentials(SIGN_IN_FAILED, reason=reason, audit=audit, persist=True)
    clear_failures(session, key_hash)
    record(
        session,
        AuditEntry(
            event="console.sign_in",
            org_id=org_id,
            actor_type="user",
            actor_id=user.id,
            details={"email": email},
        ),
        ctx,
        now=now,
    )
    return user, org_id


def _sign_in_problem(user: User | None, password_ok: bool, org_id: str | None) -> str | None:
    if user is None:
        return "user_not_found"
    if not password_ok:
        return "wrong_password"
    if not user.is_active:
        return "user_disabled"
    if org_id is None:
        return "no_organization"
    return None
