"""CSRF on the web console (issue scope; no catalogue id): every state-changing console route is
guarded, including ones added later, and a forged cross-site POST changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tessera.console.pages import (
    auth_methods,
    credentials,
    identities,
    overview,
    project_access,
    projects,
    roles,
    secrets,
    session,
)
from tessera.console.web import SESSION_COOKIE, ConsoleRoute
from tessera.identities.models import Identity
from tessera.projects.models import Project
from tests.conftest import Admin
from tests.console.support import Console
from tests.factories_auth import create_identity, session_of

PAGES = [
    session.public,
    session.private,
    overview.router,
    projects.router,
    identities.router,
    auth_methods.router,
    credentials.router,
    project_access.router,
    roles.router,
    secrets.router,
]


def _console_posts() -> list[str]:
    return sorted(
        route.path
        for page in PAGES
        for route in page.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    )


def test_csrf_every_console_post_route_is_a_guarded_route() -> None:
    posts = [
        route
        for page in PAGES
        for route in page.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    ]
    assert len(posts) >= 20
    for route in posts:
        assert isinstance(route, ConsoleRoute), route.path


def _counts(app: Any) -> tuple[int, int]:
    with session_of(app) as db:
        return (
            int(db.scalar(select(func.count(Identity.id))) or 0),
            int(db.scalar(select(func.count(Project.id))) or 0),
        )


@pytest.fixture
def signed_in(client: TestClient, admin: Admin) -> Console:
    browser = Console(client)
    assert browser.sign_in().status_code == 303
    return browser


def test_csrf_forged_posts_are_refused_on_every_console_route(
    signed_in: Console, client: TestClient, app: Any, admin: Admin, project: dict[str, Any]
) -> None:
    assert client.cookies.get(SESSION_COOKIE)
    target = create_identity(app, admin.org_id, role="member")
    values = {
        "identity_id": target,
        "project_id": project["id"],
        "role_id": "x",
        "secret_id": "x",
        "token_id": "x",
        "method": "universal-auth",
    }
    before = _counts(app)
    forged_form = {"name": "evil", "role": "admin", "projectName": "evil", "identityId": target}
    for template in _console_posts():
        path = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), template)
        for extra in ({}, {"csrf_token": "0" * 64}):
            response = client.post(
                path,
                data={**forged_form, **extra},
                headers={"Origin": "https://evil.example", "Referer": "https://evil.example/"},
                follow_redirects=False,
            )
            assert response.status_code == 403, (template, response.status_code)
    assert _counts(app) == before


def test_csrf_session_cookie_is_not_sent_cross_site(signed_in: Console, client: TestClient) -> None:
    response = signed_in.sign_in()
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith(SESSION_COOKIE)
    )
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered or "samesite=lax" in lowered
