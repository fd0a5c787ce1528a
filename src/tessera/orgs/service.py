"""Bootstrap: the first user, organisation and admin machine identity, exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.login import LoginResult, issue_access_token
from tessera.auth.policy import TokenPolicy
from tessera.auth.trusted_ips import ALLOW_ALL
from tessera.crypto.passwords import hash_password
from tessera.errors import BadRequest
from tessera.identities.models import Identity, IdentityOrgMembership
from tessera.orgs.models import InstanceState, Organization, OrgUserMembership, User
from tessera.text import slugify

ALREADY_BOOTSTRAPPED = "This instance has already been set up; bootstrap can only run once"
BOOTSTRAP_IDENTITY_NAME = "bootstrap-admin"


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    user: User
    organization: Organization
    identity: Identity
    login: LoginResult


def is_bootstrapped(session: Session) -> bool:
    return session.scalar(select(InstanceState.id)) is not None


def bootstrap(
    session: Session,
    *,
    email: str,
    password: str,
    organization_name: str,
    now: datetime,
    signing_secret: bytes,
    ctx: RequestContext,
) -> BootstrapResult:
    """Create the first admin; the instance-state primary key makes a second call fail, even concurrently.

    Raises:
        BadRequest: the instance is already bootstrapped.
    """
    try:
        with session.begin_nested():
            session.add(InstanceState(id="instance", bootstrapped_at=now))
    except IntegrityError as exc:
        raise BadRequest(ALREADY_BOOTSTRAPPED, reason="already_bootstrapped") from exc

    user = User(email=email.lower(), password_hash=hash_password(password), created_at=now, updated_at=now)
    org = Organization(
        name=organization_name, slug=slugify(organization_name), created_at=now, updated_at=now
    )
    session.add_all([user, org])
    session.flush()
    session.add(
        OrgUserMembership(org_id=org.id, user_id=user.id, role="admin", created_at=now, updated_at=now)
    )
    identity = Identity(org_id=org.id, name=BOOTSTRAP_IDENTITY_NAME, created_at=now, updated_at=now)
    session.add(identity)
    session.flush()
    session.add(
        IdentityOrgMembership(
            org_id=org.id, identity_id=identity.id, role="admin", created_at=now, updated_at=now
        )
    )
    session.flush()
    # TTL 0 and max TTL 0: the bootstrap token does not expire; revoke it once real admins exist.
    login = issue_access_token(
        session,
        identity=identity,
        method="token-auth",
        policy=TokenPolicy(ttl=0, max_ttl=0, num_uses_limit=0, trusted_ips=[dict(e) for e in ALLOW_ALL]),
        now=now,
        signing_secret=signing_secret,
        ctx=ctx,
        name="bootstrap",
        # Bootstrap is not a login from a network address: `tessera bootstrap` has no client IP at
        # all, and the token's own trusted IPs are allow-all anyway.
        check_login_ip=False,
    )
    record(
        session,
        AuditEntry(
            event="bootstrap",
            org_id=org.id,
            actor_type="user",
            actor_id=user.id,
            details={"email": user.email},
        ),
        ctx,
        now=now,
    )
    return BootstrapResult(user=user, organization=org, identity=identity, login=login)
