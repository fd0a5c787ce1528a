"""CSRF: every console POST needs the synchronizer token of its own session (or pre-session)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tessera.audit.service import RequestContext
from tessera.console.auth import SessionPolicy, session_key, start_session
from tessera.console.csrf import csrf_key, token_for
from tessera.identities.models import Identity
from tessera.orgs.models import User
from tests.conftest import Admin
from tests.console.conftest import create_identity
from tests.console.support import ADMIN_EMAIL, ADMIN_PASSWORD, Console, csrf_of, identity_id_from

# (path template, form data): each is a state-changing console form.
POSTS: list[tuple[str, dict[str, str]]] = [
    ("/logout", {}),
    ("/projects/new", {"projectName": "Sneaky"}),
    ("/organization/access-control/identities/new", {"name": "sneaky", "role": "admin"}),
    ("/identities/{identity}/edit", {"name": "renamed", "role": "admin", "isActive": "true"}),
    ("/identities/{identity}/delete", {}),
    ("/identities/{identity}/auth/universal-auth/remove", {}),
    ("/identities/{identity}/auth/azure-auth", {"tenantId": "11111111-1111-4111-8111-111111111111"}),
    ("/identities/{identity}/auth/universal-auth/client-secrets", {}),
    ("/identities/{identity}/tokens/revoke-all", {}),
    ("/organization/access-control/roles/new", {"name": "x", "slug": "x", "rule_count": "0"}),
    ("/projects/{project}/access-control/identities/add", {"identityId": "{identity}", "role": "admin"}),
    ("/projects/{project}/secrets/reveal", {"env": "dev", "path": "/", "name": "X"}),
    ("/projects/{project}/folders/new", {"env": "dev", "path": "/", "folder": "f"}),
]
IDS = [
    path.split("{")[0].strip("/") + ("-" + path.rsplit("/", 1)[1] if "{" in path else "") for path, _ in POSTS
]


@pytest.fixture
def targets(console: Console, project_id: str) -> dict[str, str]:
    return {"identity": identity_id_from(create_identity(console)), "project": project_id}


def fill(template: str, targets: dict[str, str]) -> str:
    return template.format(**targets)


def identity_count(app: Any) -> int:
    with app.state.context.session_factory() as session:
        return int(session.scalar(select(func.count(Identity.id))) or 0)


def other_session_token(app: Any, admin: Admin) -> str:
    """A valid token, of somebody else's session (made directly: no slow password check needed)."""
    context = app.state.context
    with context.session_factory() as session, session.begin():
        user = session.get(User, admin.user_id)
        assert user is not None
        raw = start_session(
            session,
            user=user,
            org_id=admin.org_id,
            now=context.clock.now(),
            policy=SessionPolicy(idle_seconds=600, max_seconds=600),
            key=session_key(context.signing_secret),
            ctx=RequestContext(),
        )
    return token_for(csrf_key(context.signing_secret), "s", raw)


@pytest.mark.parametrize(("path", "data"), POSTS, ids=IDS)
def test_post_without_this_sessions_token_is_refused_and_changes_nothing(
    console: Console, admin: Admin, targets: dict[str, str], app: Any, path: str, data: dict[str, str]
) -> None:
    bad_tokens = {
        "missing": {},
        "garbage": {"csrf_token": "0" * 64},
        "other-session": {"csrf_token": other_session_token(app, admin)},
    }
    before = identity_count(app)
    for kind, token in bad_tokens.items():
        form = {k: fill(v, targets) for k, v in data.items()} | token
        response = console.client.post(fill(path, targets), data=form, follow_redirects=False)
        assert response.status_code == 403, kind
        assert "This form has expired" in response.text, kind
        assert identity_count(app) == before, kind
        assert console.get("/").status_code == 200, kind  # still signed in: the refused POST did nothing


def test_the_right_token_is_accepted(console: Console, app: Any) -> None:
    console.get("/")  # the console's delegate identity exists from the first page on
    before = identity_count(app)
    assert create_identity(console).status_code == 303
    assert identity_count(app) == before + 1


def test_htmx_requests_may_carry_the_token_in_a_header(console: Console, app: Any) -> None:
    token = console.token("/organization/access-control/identities/new")
    response = console.client.post(
        "/organization/access-control/identities/new",
        data={"name": "via-header", "role": "member"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/identities/")


def test_sign_in_form_needs_its_pre_session_token(anonymous: Console, admin: Admin) -> None:
    response = anonymous.client.post(
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert anonymous.session_cookie is None


def test_a_session_token_does_not_open_the_sign_in_form(console: Console) -> None:
    """The two kinds of token are bound to different cookies and do not stand in for each other."""
    session_token = csrf_of(console.client.get("/"))
    response = console.client.post(
        "/login",
        data={"csrf_token": session_token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_set_up_form_needs_its_token(anonymous: Console) -> None:
    response = anonymous.client.post(
        "/setup",
        data={
            "organization": "Acme",
            "email": "x@example.com",
            "password": "p" * 20,
            "password_confirm": "p" * 20,
        },
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert anonymous.get("/login").headers.get("location") == "/setup"  # still not set up
