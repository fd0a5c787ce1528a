"""Helpers several page modules share: role choices, the delegate guard, confirmation pages."""

from __future__ import annotations

from fastapi import Request, Response
from sqlalchemy.orm import Session

from tessera.console.principal import find_delegate
from tessera.console.web import Viewer, render
from tessera.errors import BadRequest
from tessera.rbac import custom_roles
from tessera.rbac.roles import CUSTOM

DELEGATE_MESSAGE = (
    "This identity is the one the console acts through; Tessera manages it and it cannot be changed here"
)


def org_role_choices(session: Session, viewer: Viewer) -> list[tuple[str, str]]:
    """(slug, label) of every org role the person may pick, built-in first."""
    builtins, customs = custom_roles.list_org_roles(session, viewer.principal, viewer.principal.org_id)
    return [(role.slug, role.name) for role in builtins] + [
        (role.slug, f"{role.name} (custom)") for role in customs
    ]


def role_label(slug: str, custom_name: str | None) -> str:
    return custom_name if slug == CUSTOM and custom_name else slug


def refuse_delegate(session: Session, viewer: Viewer, identity_id: str) -> None:
    """Raises BadRequest when a change targets the console's own delegate identity."""
    if identity_id == find_delegate(session, viewer.principal.org_id):
        raise BadRequest(DELEGATE_MESSAGE, reason="console_delegate")


def confirm_page(
    request: Request,
    *,
    title: str,
    message: str,
    action: str,
    button: str,
    cancel: str,
    nav: str,
) -> Response:
    """The "are you sure?" step of a destructive action: a page whose one form posts to `action`."""
    return render(
        request,
        "confirm.html",
        nav=nav,
        title=title,
        message=message,
        action=action,
        button=button,
        cancel=cancel,
    )
