"""The one place the console turns a signed-in person into the `Principal` that services take.

Services and the permission checks reason about machine identities, while people sign in to
the console with a password. The console bridges the two like this:

* Only people whose organisation role (`OrgUserMembership.role`) is `admin` may act through the
  console; others get a clear "ask an admin" page.
* Their actions run as the organisation's *console delegate*: an org-admin machine identity the
  console creates on first use, with delete protection and no auth method, so nothing can log in
  as it. Its id is kept in the console's own table (`console_delegates`), never looked up by
  name, so nobody can slip in an identity of their own.
* The person is not lost: the principal's `token_id` is the console session id, and every change
  made through the console also gets an audit record with `actor_type="user"` and the person's id.

Had the permission layer a notion of people, this adapter would build their own principal
instead; nothing else in the console would change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.console.auth import SignedIn
from tessera.console.models import ConsoleDelegate
from tessera.errors import PermissionDenied
from tessera.identities.models import Identity, IdentityOrgMembership

CONSOLE_AUTH_METHOD = "console"
DELEGATE_NAME = "tessera-console"
CONSOLE_ROLE = "admin"


def acting_principal(
    session: Session, person: SignedIn, *, now: datetime, client_ip: str | None
) -> Principal:
    """The principal console actions run under for this person.

    Raises:
        PermissionDenied: the person is not an admin of the organisation.
    """
    if person.role != CONSOLE_ROLE:
        raise PermissionDenied(
            "The console is for organisation admins; ask an admin of "
            f"{person.org_name} to make the change for you",
            reason="console_not_admin",
        )
    return Principal(
        identity_id=delegate_identity_id(session, person.org_id, now=now),
        org_id=person.org_id,
        auth_method=CONSOLE_AUTH_METHOD,
        token_id=person.session_id,
        client_ip=client_ip,
    )


def find_delegate(session: Session, org_id: str) -> str | None:
    return session.scalar(select(ConsoleDelegate.identity_id).where(ConsoleDelegate.org_id == org_id))


def delegate_identity_id(session: Session, org_id: str, *, now: datetime) -> str:
    """The organisation's delegate identity, created on first use (safe under concurrent first uses)."""
    existing = find_delegate(session, org_id)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            identity = Identity(
                org_id=org_id, name=DELEGATE_NAME, has_delete_protection=True, created_at=now, updated_at=now
            )
            session.add(identity)
            session.flush()
            session.add_all(
                [
                    IdentityOrgMembership(
                        org_id=org_id,
                        identity_id=identity.id,
                        role=CONSOLE_ROLE,
                        created_at=now,
                        updated_at=now,
                    ),
                    ConsoleDelegate(org_id=org_id, identity_id=identity.id),
                ]
            )
            session.flush()
    except IntegrityError:
        raced = find_delegate(session, org_id)
        assert raced is not None, "a concurrent first use created the delegate"
        return raced
    return identity.id
