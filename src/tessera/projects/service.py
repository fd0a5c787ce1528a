"""Projects and environments: create (with dev/staging/prod), read, update, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.errors import BadRequest, Conflict, NotFound
from tessera.projects.models import Environment, Project
from tessera.projects.schemas import (
    EnvironmentCreateIn,
    EnvironmentUpdateIn,
    ProjectCreateIn,
    ProjectUpdateIn,
)
from tessera.rbac.models import IdentityProjectMembership, IdentityProjectMembershipRole
from tessera.rbac.service import invalidate_permissions, org_role, require_org, require_project
from tessera.text import slugify, unique_suffix

DEFAULT_ENVIRONMENTS = (("Development", "dev"), ("Staging", "staging"), ("Production", "prod"))


@dataclass(frozen=True, slots=True)
class ProjectView:
    project: Project
    environments: list[Environment]


def _environments(session: Session, project_id: str) -> list[Environment]:
    return list(
        session.scalars(
            select(Environment).where(Environment.project_id == project_id).order_by(Environment.position)
        )
    )


def view(session: Session, project: Project) -> ProjectView:
    return ProjectView(project=project, environments=_environments(session, project.id))


def create_project(
    session: Session, principal: Principal, body: ProjectCreateIn, *, now: datetime
) -> ProjectView:
    """Raises PermissionDenied, BadRequest (foreign org) or Conflict (slug taken)."""
    require_org(session, principal, "create", "workspace")
    if body.organization_id is not None and body.organization_id != principal.org_id:
        raise BadRequest("organizationId must be your own organization", reason="foreign_org")
    slug = body.slug or f"{slugify(body.project_name)}-{unique_suffix()}"
    project = Project(
        org_id=principal.org_id,
        name=body.project_name,
        slug=slug,
        description=body.project_description,
        type=body.type,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(project)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A project with slug {slug!r} already exists", reason="slug_taken") from exc
    for position, (name, env_slug) in enumerate(DEFAULT_ENVIRONMENTS, start=1):
        session.add(
            Environment(
                project_id=project.id,
                name=name,
                slug=env_slug,
                position=position,
                created_at=now,
                updated_at=now,
            )
        )
    _make_creator_admin(session, principal, project, now)
    session.flush()
    return view(session, project)


def _make_creator_admin(session: Session, principal: Principal, project: Project, now: datetime) -> None:
    """Whoever creates a project administers it; org admins already do, so they need no row."""
    if org_role(session, principal) == "admin":
        return
    membership = IdentityProjectMembership(
        project_id=project.id, identity_id=principal.identity_id, created_at=now, updated_at=now
    )
    session.add(membership)
    session.flush()
    session.add(
        IdentityProjectMembershipRole(
            membership_id=membership.id, role="admin", created_at=now, updated_at=now
        )
    )
    invalidate_permissions(session)


def get_project(session: Session, principal: Principal, project_id: str, *, action: str = "read") -> Project:
    """Raises NotFound for a project outside the caller's organisation, PermissionDenied otherwise."""
    project = session.get(Project, project_id)
    if project is None or project.org_id != principal.org_id:
        raise NotFound(f"Project with ID '{project_id}' not found", reason="project_not_found")
    require_project(session, principal, project, action, "workspace")
    return project


def get_project_by_slug(session: Session, principal: Principal, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.org_id == principal.org_id, Project.slug == slug))
    if project is None:
        raise NotFound(f"Project with slug '{slug}' not found", reason="project_not_found")
    require_project(session, principal, project, "read", "workspace")
    return project


def list_projects(session: Session, principal: Principal) -> list[ProjectView]:
    """Org admins see every project of the org; anyone else only the projects they are a member of."""
    require_org(session, principal, "read", "workspace")
    query = select(Project).where(Project.org_id == principal.org_id)
    if org_role(session, principal) != "admin":
        query = query.join(
            IdentityProjectMembership,
            (IdentityProjectMembership.project_id == Project.id)
            & (IdentityProjectMembership.identity_id == principal.identity_id),
        )
    projects = session.scalars(query.order_by(Project.created_at, Project.id))
    return [view(session, project) for project in projects]


def update_project(
    session: Session, principal: Principal, project_id: str, body: ProjectUpdateIn, *, now: datetime
) -> ProjectView:
    project = get_project(session, principal, project_id, action="edit")
    if body.name is not None:
        project.name = body.name.strip()
    if body.description is not None:
        project.description = body.description
    if body.slug is not None:
        project.slug = body.slug
    project.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A project with slug {body.slug!r} already exists", reason="slug_taken") from exc
    return view(session, project)


def delete_project(session: Session, principal: Principal, project_id: str) -> ProjectView:
    project = get_project(session, principal, project_id, action="delete")
    result = view(session, project)
    session.delete(project)
    session.flush()
    return result


def create_environment(
    session: Session, principal: Principal, project_id: str, body: EnvironmentCreateIn, *, now: datetime
) -> tuple[Project, Environment]:
    project = get_project(session, principal, project_id, action="edit")
    position = body.position
    if position is None:
        last = session.scalar(
            select(func.max(Environment.position)).where(Environment.project_id == project.id)
        )
        position = (last or 0) + 1
    env = Environment(
        project_id=project.id,
        name=body.name.strip(),
        slug=body.slug,
        position=position,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(env)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Environment with slug '{body.slug}' already exists", reason="env_slug_taken"
        ) from exc
    return project, env


def _environment(session: Session, project: Project, env_id: str) -> Environment:
    env = session.get(Environment, env_id)
    if env is None or env.project_id != project.id:
        raise NotFound(f"Environment with ID '{env_id}' not found", reason="env_not_found")
    return env


def update_environment(
    session: Session,
    principal: Principal,
    project_id: str,
    env_id: str,
    body: EnvironmentUpdateIn,
    *,
    now: datetime,
) -> tuple[Project, Environment]:
    project = get_project(session, principal, project_id, action="edit")
    env = _environment(session, project, env_id)
    if body.name is not None:
        env.name = body.name.strip()
    if body.slug is not None:
        env.slug = body.slug
    if body.position is not None:
        env.position = body.position
    env.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Environment with slug '{body.slug}' already exists", reason="env_slug_taken"
        ) from exc
    return project, env


def delete_environment(
    session: Session, principal: Principal, project_id: str, env_id: str
) -> tuple[Project, Environment]:
    project = get_project(session, principal, project_id, action="edit")
    env = _environment(session, project, env_id)
    session.delete(env)
    session.flush()
    return project, env


def find_environment(session: Session, project: Project, slug: str) -> Environment:
    """The environment with this slug in the project; NotFound names the slug."""
    env = session.scalar(
        select(Environment).where(Environment.project_id == project.id, Environment.slug == slug)
    )
    if env is None:
        raise NotFound(
            f"Environment with slug '{slug}' in project with ID {project.id} not found",
            reason="env_not_found",
        )
    return env
