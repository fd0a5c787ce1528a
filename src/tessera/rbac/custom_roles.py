"""Custom roles at organisation and project level: validate, bound, store, list, delete.

Permissions are validated against the subject/action tables (unknown → 422) and stored in their
normalised wire form. Creating or changing a role is bounded like granting one: the caller must
hold every permission the role would grant. A role still assigned cannot be deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.principal import Principal
from tessera.errors import BadRequest, NotFound, PermissionDenied, ValidationFailure
from tessera.identities.models import IdentityOrgMembership
from tessera.projects.models import Project
from tessera.rbac.evaluate import PermissionSet
from tessera.rbac.models import IdentityProjectMembershipRole, OrgRole, ProjectRole
from tessera.rbac.permissions import Rule, RuleError, Scope, parse_rules
from tessera.rbac.roles import ORG_ROLES, PROJECT_ROLES, BuiltinRole
from tessera.rbac.schemas import RoleCreateIn, RoleUpdateIn
from tessera.rbac.service import (
    invalidate_permissions,
    org_permissions,
    project_permissions,
    require_grantable,
)

RoleT = TypeVar("RoleT", OrgRole, ProjectRole)
BOUNDARY_MESSAGE = "Failed to create or update a role with more privileges than you hold"


def validate_permissions(permissions: Any, scope: Scope) -> tuple[list[dict[str, Any]], list[Rule]]:
    """Raises ValidationFailure naming the offending element (e.g. `permissions.2.action`)."""
    try:
        rules = parse_rules(permissions, scope)
    except RuleError as exc:
        field = "permissions" + (f".{exc.path}" if exc.path else "")
        raise ValidationFailure(field, exc.message) from exc
    return [rule.to_wire() for rule in rules], rules


def _audit(
    session: Session,
    principal: Principal,
    event: str,
    role: OrgRole | ProjectRole,
    ctx: RequestContext,
    now: datetime,
) -> None:
    details: dict[str, Any] = {"roleId": role.id, "slug": role.slug}
    if isinstance(role, ProjectRole):
        details["projectId"] = role.project_id
    record(
        session,
        AuditEntry(
            event=event,
            org_id=principal.org_id,
            actor_type=principal.actor_type,
            actor_id=principal.identity_id,
            details=details,
        ),
        ctx,
        now=now,
    )


def _insert(session: Session, role: RoleT) -> RoleT:
    try:
        with session.begin_nested():
            session.add(role)
            session.flush()
    except IntegrityError as exc:
        raise BadRequest(f"Role with slug {role.slug} already exists", reason="role_slug_taken") from exc
    return role


def _apply_update(
    session: Session, role: RoleT, body: RoleUpdateIn, holder: PermissionSet, scope: Scope, now: datetime
) -> RoleT:
    if body.permissions is not None:
        wire, rules = validate_permissions(body.permissions, scope)
        require_grantable(holder, rules, BOUNDARY_MESSAGE)
        role.permissions = wire
    if body.name is not None:
        role.name = body.name.strip()
    if "description" in body.model_fields_set:
        role.description = body.description
    if body.slug is not None:
        role.slug = body.slug
    role.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise BadRequest(f"Role with slug {body.slug} already exists", reason="role_slug_taken") from exc
    invalidate_permissions(session)
    return role


# --- organisation roles ----------------------------------------------------------------------------


def _org_scope(session: Session, principal: Principal, org_id: str, action: str) -> PermissionSet:
    if org_id != principal.org_id:
        raise PermissionDenied(f"You are not allowed to {action} on role", reason="foreign_org")
    permissions = org_permissions(session, principal)
    permissions.require(action, "role")
    return permissions


def list_org_roles(
    session: Session, principal: Principal, org_id: str
) -> tuple[list[BuiltinRole], list[OrgRole]]:
    _org_scope(session, principal, org_id, "read")
    customs = session.scalars(select(OrgRole).where(OrgRole.org_id == org_id).order_by(OrgRole.slug))
    return list(ORG_ROLES.values()), list(customs)


def get_org_role(session: Session, principal: Principal, org_id: str, role_id: str) -> BuiltinRole | OrgRole:
    _org_scope(session, principal, org_id, "read")
    return _builtin_by_id(ORG_ROLES, role_id) or _org_role(session, org_id, role_id)


def _builtin_by_id(roles: dict[str, BuiltinRole], role_id: str) -> BuiltinRole | None:
    return roles.get(role_id.removeprefix("builtin-")) if role_id.startswith("builtin-") else None


def _org_role(session: Session, org_id: str, role_id: str) -> OrgRole:
    role = session.get(OrgRole, role_id)
    if role is None or role.org_id != org_id:
        raise NotFound(f"Role with ID {role_id} not found", reason="role_not_found")
    return role


def create_org_role(
    session: Session,
    principal: Principal,
    org_id: str,
    body: RoleCreateIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> OrgRole:
    """Raises PermissionDenied, ValidationFailure (bad rules), PermissionBoundaryError, BadRequest (slug)."""
    holder = _org_scope(session, principal, org_id, "create")
    wire, rules = validate_permissions(body.permissions, "org")
    require_grantable(holder, rules, BOUNDARY_MESSAGE)
    role = _insert(
        session,
        OrgRole(
            org_id=org_id,
            slug=body.slug,
            name=body.name,
            description=body.description,
            permissions=wire,
            created_at=now,
            updated_at=now,
        ),
    )
    _audit(session, principal, "org-role.create", role, ctx, now)
    return role


def update_org_role(
    session: Session,
    principal: Principal,
    org_id: str,
    role_id: str,
    body: RoleUpdateIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> OrgRole:
    holder = _org_scope(session, principal, org_id, "edit")
    role = _apply_update(session, _org_role(session, org_id, role_id), body, holder, "org", now)
    _audit(session, principal, "org-role.update", role, ctx, now)
    return role


def delete_org_role(
    session: Session, principal: Principal, org_id: str, role_id: str, *, now: datetime, ctx: RequestContext
) -> OrgRole:
    """Raises BadRequest while any identity still holds the role."""
    _org_scope(session, principal, org_id, "delete")
    role = _org_role(session, org_id, role_id)
    in_use = session.scalar(
        select(func.count())
        .select_from(IdentityOrgMembership)
        .where(IdentityOrgMembership.role_id == role.id)
    )
    if in_use:
        raise BadRequest(
            "The role is assigned to identities; assign them another role first", reason="role_in_use"
        )
    _audit(session, principal, "org-role.delete", role, ctx, now)
    session.delete(role)
    session.flush()
    invalidate_permissions(session)
    return role


# --- project roles -------------------------------------------------------------------------------


def find_project(session: Session, principal: Principal, project_id: str) -> Project:
    """A project of the caller's organisation. Raises NotFound otherwise."""
    project = session.get(Project, project_id)
    if project is None or project.org_id != principal.org_id:
        raise NotFound(f"Project with ID '{project_id}' not found", reason="project_not_found")
    return project


def find_project_by_slug(session: Session, principal: Principal, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.org_id == principal.org_id, Project.slug == slug))
    if project is None:
        raise NotFound(f"Project with slug '{slug}' not found", reason="project_not_found")
    return project


def _project_scope(session: Session, principal: Principal, project: Project, action: str) -> PermissionSet:
    permissions = project_permissions(session, principal, project)
    permissions.require(action, "role")
    return permissions


def _project_role(session: Session, project: Project, role_id: str) -> ProjectRole:
    role = session.get(ProjectRole, role_id)
    if role is None or role.project_id != project.id:
        raise NotFound(f"Role with ID {role_id} not found", reason="role_not_found")
    return role


def list_project_roles(
    session: Session, principal: Principal, project: Project
) -> tuple[list[BuiltinRole], list[ProjectRole]]:
    _project_scope(session, principal, project, "read")
    customs = session.scalars(
        select(ProjectRole).where(ProjectRole.project_id == project.id).order_by(ProjectRole.slug)
    )
    return list(PROJECT_ROLES.values()), list(customs)


def get_project_role(
    session: Session,
    principal: Principal,
    project: Project,
    *,
    role_id: str | None = None,
    slug: str | None = None,
) -> BuiltinRole | ProjectRole:
    _project_scope(session, principal, project, "read")
    if slug is not None:
        builtin = PROJECT_ROLES.get(slug)
        if builtin is not None:
            return builtin
        role = session.scalar(
            select(ProjectRole).where(ProjectRole.project_id == project.id, ProjectRole.slug == slug)
        )
        if role is None:
            raise NotFound(f"Role with slug {slug} not found", reason="role_not_found")
        return role
    assert role_id is not None
    return _builtin_by_id(PROJECT_ROLES, role_id) or _project_role(session, project, role_id)


def create_project_role(
    session: Session,
    principal: Principal,
    project: Project,
    body: RoleCreateIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> ProjectRole:
    holder = _project_scope(session, principal, project, "create")
    wire, rules = validate_permissions(body.permissions, "project")
    require_grantable(holder, rules, BOUNDARY_MESSAGE)
    role = _insert(
        session,
        ProjectRole(
            project_id=project.id,
            slug=body.slug,
            name=body.name,
            description=body.description,
            permissions=wire,
            created_at=now,
            updated_at=now,
        ),
    )
    _audit(session, principal, "project-role.create", role, ctx, now)
    return role


def update_project_role(
    session: Session,
    principal: Principal,
    project: Project,
    role_id: str,
    body: RoleUpdateIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> ProjectRole:
    holder = _project_scope(session, principal, project, "edit")
    role = _apply_update(session, _project_role(session, project, role_id), body, holder, "project", now)
    _audit(session, principal, "project-role.update", role, ctx, now)
    return role


def delete_project_role(
    session: Session,
    principal: Principal,
    project: Project,
    role_id: str,
    *,
    now: datetime,
    ctx: RequestContext,
) -> ProjectRole:
    """Raises BadRequest while any membership still holds the role."""
    _project_scope(session, principal, project, "delete")
    role = _project_role(session, project, role_id)
    in_use = session.scalar(
        select(func.count())
        .select_from(IdentityProjectMembershipRole)
        .where(IdentityProjectMembershipRole.custom_role_id == role.id)
    )
    if in_use:
        raise BadRequest(
            "The role is assigned to identities; assign them another role first", reason="role_in_use"
        )
    _audit(session, principal, "project-role.delete", role, ctx, now)
    session.delete(role)
    session.flush()
    invalidate_permissions(session)
    return role
