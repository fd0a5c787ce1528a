"""Project memberships of identities: add, change roles, remove, read.

Each membership holds one or more roles (built-in or custom project roles), each possibly
temporary (ends at start + range). Every grant is bounded: the caller must hold all permissions
of every role it hands out, and may not change or remove a membership whose roles grant more
than the caller holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.methods import attached_methods
from tessera.auth.principal import Principal
from tessera.errors import BadRequest, NotFound
from tessera.identities.models import Identity, IdentityOrgMembership
from tessera.projects.models import Project
from tessera.rbac.custom_roles import find_project
from tessera.rbac.evaluate import PermissionSet
from tessera.rbac.models import IdentityProjectMembership, IdentityProjectMembershipRole, ProjectRole
from tessera.rbac.permissions import Rule, RuleError, parse_rules
from tessera.rbac.roles import CUSTOM, NO_ACCESS, PROJECT_ROLES
from tessera.rbac.schemas import MembershipCreateIn, MembershipRoleIn, MembershipUpdateIn
from tessera.rbac.service import (
    invalidate_permissions,
    org_permissions,
    project_permissions,
    require_grantable,
)


@dataclass(frozen=True, slots=True)
class MembershipView:
    membership: IdentityProjectMembership
    roles: list[IdentityProjectMembershipRole]
    custom_roles: dict[str, ProjectRole]
    identity: Identity
    org_membership: IdentityOrgMembership | None
    project: Project
    auth_methods: list[str]


@dataclass(frozen=True, slots=True)
class ResolvedProjectRole:
    spec: MembershipRoleIn
    value: str
    custom_role_id: str | None
    rules: tuple[Rule, ...]


def _resolve(session: Session, project: Project, spec: MembershipRoleIn) -> ResolvedProjectRole:
    builtin = PROJECT_ROLES.get(spec.role)
    if builtin is not None:
        return ResolvedProjectRole(spec, spec.role, None, builtin.rules)
    custom = session.scalar(
        select(ProjectRole).where(ProjectRole.project_id == project.id, ProjectRole.slug == spec.role)
    )
    if custom is None:
        raise NotFound("Custom project roles not found", reason="role_not_found")
    try:
        rules = tuple(parse_rules(custom.permissions, "project"))
    except RuleError as exc:
        raise NotFound("Custom project roles not found", reason="custom_role_invalid") from exc
    return ResolvedProjectRole(spec, CUSTOM, custom.id, rules)


def _resolve_all(
    session: Session, project: Project, specs: Sequence[MembershipRoleIn], holder: PermissionSet
) -> list[ResolvedProjectRole]:
    """Resolve the requested roles and apply the privilege boundary to all of them at once."""
    resolved = [_resolve(session, project, spec) for spec in specs]
    wanted = [rule for role in resolved if role.value != NO_ACCESS for rule in role.rules]
    require_grantable(holder, wanted, "Failed to assign a more privileged role")
    return resolved


def _current_rules(
    session: Session, project: Project, rows: Sequence[IdentityProjectMembershipRole]
) -> list[Rule]:
    """Everything the membership's roles grant, temporary ones included even when expired
    (they could be re-activated only by a grant, but are counted to stay on the safe side)."""
    rules: list[Rule] = []
    for row in rows:
        if row.role == CUSTOM:
            custom = session.get(ProjectRole, row.custom_role_id) if row.custom_role_id else None
            if custom is not None:
                try:
                    rules.extend(parse_rules(custom.permissions, "project"))
                except RuleError:
                    continue
        elif row.role in PROJECT_ROLES:
            rules.extend(PROJECT_ROLES[row.role].rules)
    return rules


def _role_rows(
    membership_id: str, resolved: Sequence[ResolvedProjectRole], now: datetime
) -> list[IdentityProjectMembershipRole]:
    rows = []
    for role in resolved:
        spec = role.spec
        start = spec.temporary_access_start_time if spec.is_temporary else None
        rows.append(
            IdentityProjectMembershipRole(
                membership_id=membership_id,
                role=role.value,
                custom_role_id=role.custom_role_id,
                is_temporary=spec.is_temporary,
                temporary_mode=spec.temporary_mode if spec.is_temporary else None,
                temporary_range=spec.temporary_range if spec.is_temporary else None,
                temporary_access_start_time=start,
                temporary_access_end_time=start + timedelta(milliseconds=spec.range_ms) if start else None,
                created_at=now,
                updated_at=now,
            )
        )
    return rows


def _identity_in_org(session: Session, project: Project, identity_id: str) -> Identity:
    identity = session.scalar(
        select(Identity)
        .join(IdentityOrgMembership, IdentityOrgMembership.identity_id == Identity.id)
        .where(Identity.id == identity_id, IdentityOrgMembership.org_id == project.org_id)
    )
    if identity is None:
        raise NotFound(f"Failed to find identity with id {identity_id}", reason="identity_not_found")
    return identity


def _membership(session: Session, project: Project, identity_id: str) -> IdentityProjectMembership:
    membership = session.scalar(
        select(IdentityProjectMembership).where(
            IdentityProjectMembership.project_id == project.id,
            IdentityProjectMembership.identity_id == identity_id,
        )
    )
    if membership is None:
        raise NotFound(
            f"Identity with id {identity_id} is not a member of project with id {project.id}",
            reason="membership_not_found",
        )
    return membership


def _rows(session: Session, membership_ids: Sequence[str]) -> list[IdentityProjectMembershipRole]:
    if not membership_ids:
        return []
    return list(
        session.scalars(
            select(IdentityProjectMembershipRole)
            .where(IdentityProjectMembershipRole.membership_id.in_(membership_ids))
            .order_by(IdentityProjectMembershipRole.created_at, IdentityProjectMembershipRole.id)
        )
    )


def _audit(
    session: Session,
    principal: Principal,
    event: str,
    project: Project,
    identity_id: str,
    ctx: RequestContext,
    now: datetime,
    roles: Sequence[str] = (),
) -> None:
    record(
        session,
        AuditEntry(
            event=event,
            org_id=project.org_id,
            actor_type=principal.actor_type,
            actor_id=principal.identity_id,
            identity_id=identity_id,
            details={"projectId": project.id, "roles": list(roles)},
        ),
        ctx,
        now=now,
    )


def add_membership(
    session: Session,
    principal: Principal,
    project_id: str,
    identity_id: str,
    body: MembershipCreateIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> MembershipView:
    """Add an identity of the project's organisation to the project (default role no-access).

    Raises:
        NotFound (project, identity or custom role), PermissionDenied, PermissionBoundaryError,
        BadRequest (already a member).
    """
    project = find_project(session, principal, project_id)
    holder = project_permissions(session, principal, project)
    holder.require("create", "identity", identityId=identity_id)
    _identity_in_org(session, project, identity_id)
    resolved = _resolve_all(session, project, body.role_specs(), holder)
    already = BadRequest(
        f"Identity with id {identity_id} already exists in project with id {project.id}",
        reason="already_member",
    )
    membership = IdentityProjectMembership(
        project_id=project.id, identity_id=identity_id, created_at=now, updated_at=now
    )
    try:
        with session.begin_nested():
            session.add(membership)
            session.flush()
    except IntegrityError as exc:
        raise already from exc
    session.add_all(_role_rows(membership.id, resolved, now))
    session.flush()
    invalidate_permissions(session)
    _audit(
        session,
        principal,
        "project-membership.create",
        project,
        identity_id,
        ctx,
        now,
        [r.spec.role for r in resolved],
    )
    return _view_one(session, project, membership)


def update_membership(
    session: Session,
    principal: Principal,
    project_id: str,
    identity_id: str,
    body: MembershipUpdateIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> MembershipView:
    """Replace the membership's roles. Raises as `add_membership`, and NotFound if not a member."""
    project = find_project(session, principal, project_id)
    holder = project_permissions(session, principal, project)
    holder.require("edit", "identity", identityId=identity_id)
    membership = _membership(session, project, identity_id)
    current = _rows(session, [membership.id])
    if identity_id != principal.identity_id:
        require_grantable(
            holder, _current_rules(session, project, current), "Failed to update more privileged identity"
        )
    resolved = _resolve_all(session, project, body.roles, holder)
    session.execute(
        delete(IdentityProjectMembershipRole).where(
            IdentityProjectMembershipRole.membership_id == membership.id
        )
    )
    session.add_all(_role_rows(membership.id, resolved, now))
    membership.updated_at = now
    session.flush()
    invalidate_permissions(session)
    _audit(
        session,
        principal,
        "project-membership.update",
        project,
        identity_id,
        ctx,
        now,
        [r.spec.role for r in resolved],
    )
    return _view_one(session, project, membership)


def delete_membership(
    session: Session,
    principal: Principal,
    project_id: str,
    identity_id: str,
    *,
    now: datetime,
    ctx: RequestContext,
) -> MembershipView:
    """Remove the identity from the project. Raises NotFound, PermissionDenied, PermissionBoundaryError."""
    project = find_project(session, principal, project_id)
    holder = project_permissions(session, principal, project)
    holder.require("delete", "identity", identityId=identity_id)
    membership = _membership(session, project, identity_id)
    view = _view_one(session, project, membership)
    if identity_id != principal.identity_id:
        require_grantable(
            holder, _current_rules(session, project, view.roles), "Failed to delete more privileged identity"
        )
    _audit(session, principal, "project-membership.delete", project, identity_id, ctx, now)
    session.delete(membership)
    session.flush()
    invalidate_permissions(session)
    return view


def get_membership(
    session: Session, principal: Principal, project_id: str, identity_id: str
) -> MembershipView:
    project = find_project(session, principal, project_id)
    project_permissions(session, principal, project).require("read", "identity", identityId=identity_id)
    return _view_one(session, project, _membership(session, project, identity_id))


def list_memberships(
    session: Session,
    principal: Principal,
    project_id: str,
    *,
    offset: int = 0,
    limit: int = 100,
    identity_name: str | None = None,
    roles: Sequence[str] = (),
) -> tuple[list[MembershipView], int]:
    project = find_project(session, principal, project_id)
    project_permissions(session, principal, project).require("read", "identity")
    query = (
        select(IdentityProjectMembership)
        .join(Identity, Identity.id == IdentityProjectMembership.identity_id)
        .where(IdentityProjectMembership.project_id == project.id)
    )
    if identity_name:
        query = query.where(Identity.name == identity_name)
    if roles:
        query = query.where(IdentityProjectMembership.id.in_(_with_roles(project, roles)))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page = session.scalars(query.order_by(Identity.name, Identity.id).offset(offset).limit(limit))
    return _views(session, project, list(page)), total


def _with_roles(project: Project, slugs: Sequence[str]) -> Select[str]:
    custom_ids = select(ProjectRole.id).where(
        ProjectRole.project_id == project.id, ProjectRole.slug.in_(slugs)
    )
    return select(IdentityProjectMembershipRole.membership_id).where(
        IdentityProjectMembershipRole.role.in_(slugs)
        | IdentityProjectMembershipRole.custom_role_id.in_(custom_ids)
    )


def identity_memberships(session: Session, principal: Principal, identity_id: str) -> list[MembershipView]:
    """Every project membership of one identity of the caller's organisation."""
    org_permissions(session, principal).require("read", "identity", identityId=identity_id)
    identity = session.get(Identity, identity_id)
    if identity is None or identity.org_id != principal.org_id:
        raise NotFound(f"Failed to find identity with id {identity_id}", reason="identity_not_found")
    rows = session.execute(
        select(IdentityProjectMembership, Project)
        .join(Project, Project.id == IdentityProjectMembership.project_id)
        .where(IdentityProjectMembership.identity_id == identity_id, Project.org_id == principal.org_id)
        .order_by(Project.name, Project.id)
    ).all()
    views: list[MembershipView] = []
    for membership, project in rows:
        views.extend(_views(session, project, [membership]))
    return views


def _view_one(session: Session, project: Project, membership: IdentityProjectMembership) -> MembershipView:
    return _views(session, project, [membership])[0]


def _views(
    session: Session, project: Project, memberships: Sequence[IdentityProjectMembership]
) -> list[MembershipView]:
    ids = [m.id for m in memberships]
    identity_ids = [m.identity_id for m in memberships]
    rows = _rows(session, ids)
    custom_ids = {r.custom_role_id for r in rows if r.custom_role_id}
    customs = (
        {r.id: r for r in session.scalars(select(ProjectRole).where(ProjectRole.id.in_(custom_ids)))}
        if custom_ids
        else {}
    )
    identities = {i.id: i for i in session.scalars(select(Identity).where(Identity.id.in_(identity_ids)))}
    org_rows = session.scalars(
        select(IdentityOrgMembership).where(
            IdentityOrgMembership.identity_id.in_(identity_ids),
            IdentityOrgMembership.org_id == project.org_id,
        )
    )
    org_memberships = {m.identity_id: m for m in org_rows}
    methods = attached_methods(session, identity_ids)
    return [
        MembershipView(
            membership=m,
            roles=[r for r in rows if r.membership_id == m.id],
            custom_roles=customs,
            identity=identities[m.identity_id],
            org_membership=org_memberships.get(m.identity_id),
            project=project,
            auth_methods=list(methods.get(m.identity_id, [])),
        )
        for m in memberships
    ]
