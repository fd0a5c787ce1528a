"""A small form-filling client for console tests: reads the CSRF token off a page, posts forms."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from tessera.audit.models import AuditEvent
from tessera.console.models import ConsoleSession

CSRF_FIELD = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
FIELD_ERROR = re.compile(r'<p class="field-error" id="e-([^"]+)">([^<]*)</p>')
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"


def csrf_of(response: Response) -> str:
    match = CSRF_FIELD.search(response.text)
    assert match is not None, f"no CSRF field on {response.request.url}"
    return match.group(1)


def field_errors(response: Response) -> dict[str, str]:
    return dict(FIELD_ERROR.findall(response.text))


class Console:
    """A browser-like session against the console of a TestClient app."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.client.get(path, follow_redirects=False, **kwargs)

    def token(self, page: str) -> str:
        response = self.client.get(page)
        assert response.status_code == 200, response.text
        return csrf_of(response)

    def submit(
        self, page: str, action: str | None = None, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> Response:
        """Open `page`, take its CSRF token, post `data` to `action` (default: the same path)."""
        form = {"csrf_token": self.token(page), **(data or {})}
        return self.client.post(action or page, data=form, follow_redirects=False, **kwargs)

    def sign_in(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, **kwargs: Any) -> Response:
        return self.submit("/login", data={"email": email, "password": password}, **kwargs)

    @property
    def session_cookie(self) -> str | None:
        return self.client.cookies.get("tessera_session")


def audit_of(app: Any, event: str) -> list[AuditEvent]:
    with app.state.context.session_factory() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.created_at)
            )
        )


def session_rows(app: Any) -> list[ConsoleSession]:
    with app.state.context.session_factory() as session:
        return list(session.scalars(select(ConsoleSession)))


def identity_id_from(response: Response) -> str:
    location = response.headers["location"]
    match = re.search(r"/identities/([0-9a-f-]{36})", location)
    assert match is not None, location
    return match.group(1)
