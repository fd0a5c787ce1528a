"""Authorisation entry points the routes call. Org admins may do everything in their organisation.

This is the foundation's minimal policy (org admin only); the permission evaluator replaces the
inside of these functions without changing their signatures.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.errors import PermissionDenied
from tessera.identities.models import IdentityOrgMembership
from tessera.projects.models import Project


def org_role(session: Session, principal: Principal) -> str | None:
    return session.scalar(
        select(IdentityOrgMembership.role).where(
            IdentityOrgMembership.identity_id == principal.identity_id,
            IdentityOrgMembership.org_id == principal.org_id,
        )
    )


def require_org(session: Session, principal: Principal, action: str, subject: str) -> None:
    """Raises PermissionDenied unless the caller may `action` the org-level `subject`."""
    if org_role(session, principal) != "admin":
        raise PermissionDenied(f"You are not allowed to {action} on {subject}", reason="not_org_admin")


def require_project(
    session: Session,
    principal: Principal,
    project: Project,
    action: str,
    subject: str,
    *,
    environment: str | None = None,
    secret_path: str | None = None,
    secret_name: str | None = None,
) -> None:
    """Raises PermissionDenied unless the caller may `action` the project-level `subject`."""
    if project.org_id != principal.org_id or org_role(session, principal) != "admin":
        raise PermissionDenied(f"You are not allowed to {action} on {subject}", reason="not_project_member")
