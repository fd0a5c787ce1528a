"""The adapter from a signed-in person to the principal console actions run under."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tessera.auth.methods import attached_methods
from tessera.console.auth import SignedIn
from tessera.console.principal import CONSOLE_AUTH_METHOD, acting_principal, find_delegate
from tessera.errors import PermissionDenied
from tessera.identities.models import Identity, IdentityOrgMembership
from tests.conftest import Admin


def person(admin: Admin, role: str) -> SignedIn:
    return SignedIn(
        session_id="s-1",
        user_id=admin.user_id,
        email="a@example.com",
        org_id=admin.org_id,
        org_name="Acme",
        role=role,
    )


def test_admins_act_through_one_delegate_identity_that_cannot_log_in(app: Any, admin: Admin) -> None:
    context = app.state.context
    with context.session_factory() as session, session.begin():
        first = acting_principal(
            session, person(admin, "admin"), now=context.clock.now(), client_ip="127.0.0.1"
        )
        again = acting_principal(
            session, person(admin, "admin"), now=context.clock.now(), client_ip="127.0.0.1"
        )
        assert first.identity_id == again.identity_id == find_delegate(session, admin.org_id)
        assert first.auth_method == CONSOLE_AUTH_METHOD
        assert first.token_id == "s-1"
        delegate = session.get(Identity, first.identity_id)
        assert delegate is not None
        assert delegate.has_delete_protection
        role = session.scalar(
            select(IdentityOrgMembership.role).where(IdentityOrgMembership.identity_id == delegate.id)
        )
        assert role == "admin"
        assert attached_methods(session, [delegate.id]).get(delegate.id, []) == []


@pytest.mark.parametrize("role", ["member", "no-access", "custom"], ids=["member", "no-access", "custom"])
def test_people_who_are_not_org_admins_get_no_principal(app: Any, admin: Admin, role: str) -> None:
    context = app.state.context
    with context.session_factory() as session, session.begin():
        with pytest.raises(PermissionDenied):
            acting_principal(session, person(admin, role), now=context.clock.now(), client_ip=None)
        assert find_delegate(session, admin.org_id) is None
