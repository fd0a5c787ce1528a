"""Authorisation entry points: load an identity's roles (I/O), then let the pure evaluator decide.

Where permissions come from
* Organisation: the identity's org membership role — a built-in role (admin, member, no-access)
  or a custom org role.
* Project: the union of the identity's active project membership roles (built-in or custom
  project roles; a temporary role counts only while now < its end time). **Organisation admins
  (the built-in `admin` org role) hold the project `admin` rules in every project of their
  organisation**, member or not, so an org admin can never lock themselves out of a project.
  A custom org role grants no project access by itself.

Permission sets are cached on the request's session (`session.info`) and nowhere else, so a
change made by another request is seen by the next one; services that change roles or
memberships call `invalidate_permissions` so the rest of their own request sees the change too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.clock import Clock, as_utc
from tessera.errors import BadRequest, PermissionBoundaryError
from tessera.identities.models import IdentityOrgMembership
from tessera.projects.models import Project
from tessera.rbac.boundary import missing_permissions
from tessera.rbac.evaluate import Grant, PermissionSet
from tessera.rbac.glob import InvalidPath, normalize_secret_path
from tessera.rbac.models import (
    IdentityProjectMembership,
    IdentityProjectMembershipRole,
    OrgRole,
    ProjectRole,
)
from tessera.rbac.permissions import Rule, RuleError, Scope, parse_rules
from tessera.rbac.roles import CUSTOM, ORG_ROLES, PROJECT_ROLES

logger = logging.getLogger(__name__)

CACHE_KEY = "tessera.rbac.permissions"
CLOCK_KEY = "clock"  # the request edge puts the app's clock here (temporary-role expiry)
ORG_ADMIN_SOURCE = "org-admin"


def session_now(session: Session) -> datetime:
    clock: Clock | None = session.info.get(CLOCK_KEY)
    return clock.now() if clock is not None else datetime.now(UTC)


def invalidate_permissions(session: Session) -> None:
    session.info.pop(CACHE_KEY, None)


def _cache(session: Session) -> dict[tuple[str, str, str], PermissionSet]:
    cache: dict[tuple[str, str, str], PermissionSet] = session.info.setdefault(CACHE_KEY, {})
    return cache


@dataclass(frozen=True, slots=True)
class OrgMembershipFacts:
    """What authorisation reads of an organisation membership (not the ORM entity: see below)."""

    org_id: str
    role: str
    role_id: str | None


@dataclass(frozen=True, slots=True)
class ProjectRoleFacts:
    """What authorisation reads of one project role assignment."""

    role: str
    custom_role_id: str | None
    is_temporary: bool
    temporary_access_end_time: datetime | None


# Statements every authorised request runs, built once (composing them costs more than running
# them). They select columns, not entities: loading ORM entities (identity map, instance state)
# was the largest single cost of authorising a request, and nothing here is written back.
_ORG_MEMBERSHIP = select(
    IdentityOrgMembership.org_id, IdentityOrgMembership.role, IdentityOrgMembership.role_id
).where(
    IdentityOrgMembership.identity_id == bindparam("p_identity_id"),
    IdentityOrgMembership.org_id == bindparam("p_org_id"),
)
_MEMBERSHIP_ROLES = (
    select(
        IdentityProjectMembershipRole.role,
        IdentityProjectMembershipRole.custom_role_id,
        IdentityProjectMembershipRole.is_temporary,
        IdentityProjectMembershipRole.temporary_access_end_time,
    )
    .join(
        IdentityProjectMembership,
        IdentityProjectMembership.id == IdentityProjectMembershipRole.membership_id,
    )
    .where(
        IdentityProjectMembership.project_id == bindparam("p_project_id"),
        IdentityProjectMembership.identity_id == bindparam("p_identity_id"),
    )
    .order_by(IdentityProjectMembershipRole.created_at, IdentityProjectMembershipRole.id)
)


def org_membership(session: Session, identity_id: str, org_id: str) -> OrgMembershipFacts | None:
    row = session.execute(_ORG_MEMBERSHIP, {"p_identity_id": identity_id, "p_org_id": org_id}).first()
    return OrgMembershipFacts(*row) if row is not None else None


def org_role(session: Session, principal: Principal) -> str | None:
    membership = org_membership(session, principal.identity_id, principal.org_id)
    return membership.role if membership is not None else None


def stored_rules(permissions: object, scope: Scope, source: str) -> tuple[Grant, ...]:
    """Rules saved with a custom role; they were validated on the way in, so failure means tampering."""
    try:
        rules = parse_rules(permissions, scope)
    except RuleError:
        logger.error("stored permissions of %s no longer validate; treating the role as empty", source)
        return ()
    return tuple(Grant(rule, source, index) for index, rule in enumerate(rules))


def _builtin_grants(rules: Sequence[Rule], source: str) -> tuple[Grant, ...]:
    return tuple(Grant(rule, source, index) for index, rule in enumerate(rules))


def org_role_grants(session: Session, membership: OrgMembershipFacts) -> tuple[Grant, ...]:
    if membership.role == CUSTOM:
        role = session.get(OrgRole, membership.role_id) if membership.role_id else None
        if role is None or role.org_id != membership.org_id:
            return ()
        return stored_rules(role.permissions, "org", f"org-role:{role.slug}")
    builtin = ORG_ROLES.get(membership.role)
    return _builtin_grants(builtin.rules, f"org-role:{builtin.slug}") if builtin else ()


def org_permissions_for(session: Session, identity_id: str, org_id: str) -> PermissionSet:
    key = ("org", identity_id, org_id)
    cache = _cache(session)
    if key not in cache:
        membership = org_membership(session, identity_id, org_id)
        cache[key] = PermissionSet(org_role_grants(session, membership) if membership else ())
    return cache[key]


def org_permissions(session: Session, principal: Principal) -> PermissionSet:
    """What the caller may do at organisation level."""
    return org_permissions_for(session, principal.identity_id, principal.org_id)


def role_is_active(row: ProjectRoleFacts, now: datetime) -> bool:
    """A temporary role counts only before its end time (its start time is not enforced)."""
    if not row.is_temporary:
        return True
    end = row.temporary_access_end_time
    return end is not None and now < as_utc(end)


def project_role_grants(
    session: Session, project: Project, rows: Sequence[ProjectRoleFacts], now: datetime
) -> tuple[Grant, ...]:
    grants: list[Grant] = []
    for row in rows:
        if not role_is_active(row, now):
            continue
        if row.role == CUSTOM:
            role = session.get(ProjectRole, row.custom_role_id) if row.custom_role_id else None
            if role is not None and role.project_id == project.id:
                grants.extend(stored_rules(role.permissions, "project", f"project-role:{role.slug}"))
            continue
        builtin = PROJECT_ROLES.get(row.role)
        if builtin is not None:
            grants.extend(_builtin_grants(builtin.rules, f"project-role:{builtin.slug}"))
    return tuple(grants)


def membership_roles(session: Session, project_id: str, identity_id: str) -> list[ProjectRoleFacts]:
    params = {"p_project_id": project_id, "p_identity_id": identity_id}
    return [ProjectRoleFacts(*row) for row in session.execute(_MEMBERSHIP_ROLES, params)]


def project_permissions_for(
    session: Session, identity_id: str, project: Project, *, now: datetime | None = None
) -> PermissionSet:
    key = ("project", identity_id, project.id)
    cache = _cache(session)
    if now is not None or key not in cache:
        result = _load_project_permissions(session, identity_id, project, now or session_now(session))
        if now is not None:
            return result  # an explicit time is a what-if question; do not cache it
        cache[key] = result
    return cache[key]


def _load_project_permissions(
    session: Session, identity_id: str, project: Project, now: datetime
) -> PermissionSet:
    membership = org_membership(session, identity_id, project.org_id)
    if membership is None:
        return PermissionSet()  # not in the project's organisation: nothing, whatever rows exist
    if membership.role == "admin":
        return PermissionSet(_builtin_grants(PROJECT_ROLES["admin"].rules, ORG_ADMIN_SOURCE))
    rows = membership_roles(session, project.id, identity_id)
    return PermissionSet(project_role_grants(session, project, rows, now))


def project_permissions(
    session: Session, principal: Principal, project: Project, *, now: datetime | None = None
) -> PermissionSet:
    """What the caller may do in `project`; use `.can(action, subject, **fields)` to filter lists."""
    if project.org_id != principal.org_id:
        return PermissionSet()
    return project_permissions_for(session, principal.identity_id, project, now=now)


def require_org(session: Session, principal: Principal, action: str, subject: str) -> None:
    """Raises PermissionDenied unless the caller may `action` the org-level `subject`."""
    org_permissions(session, principal).require(action, subject)


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
    """Raises PermissionDenied unless the caller may `action` the project-level `subject`.

    Raises:
        BadRequest: the secret path is not acceptable (`..`, encoded or glob characters…).
        PermissionDenied: the evaluator says no.
    """
    if secret_path is not None:
        try:
            secret_path = normalize_secret_path(secret_path)
        except InvalidPath as exc:
            raise BadRequest("Invalid secret path", reason="invalid_secret_path") from exc
    project_permissions(session, principal, project).require(
        action, subject, environment=environment, secretPath=secret_path, secretName=secret_name
    )


def require_grantable(holder: PermissionSet, rules: Sequence[Rule], message: str) -> None:
    """The privilege boundary: raises PermissionBoundaryError listing what the holder lacks."""
    missing = missing_permissions(holder.grants, rules)
    if missing:
        raise PermissionBoundaryError(
            message, reason="permission_boundary", details={"missingPermissions": missing}
        )


def identity_org_rules(session: Session, identity_id: str, org_id: str) -> tuple[Rule, ...]:
    return org_permissions_for(session, identity_id, org_id).rules


def require_privilege_over(session: Session, principal: Principal, identity_id: str, *, verb: str) -> None:
    """The caller must hold every org permission the target identity holds (or be that identity).

    Use before changing, disabling, deleting or issuing credentials for another identity, so a
    less privileged identity cannot take over a more privileged one.

    Raises:
        PermissionBoundaryError: the target holds org permissions the caller lacks.
    """
    if identity_id == principal.identity_id:
        return
    require_grantable(
        org_permissions(session, principal),
        identity_org_rules(session, identity_id, principal.org_id),
        f"Failed to {verb} more privileged identity",
    )
