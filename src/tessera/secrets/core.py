"""What every secrets operation shares: the call context, target resolution and opening rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.errors import BadRequest, NotFound
from tessera.projects.models import Environment, Project
from tessera.secrets import repository as repo
from tessera.secrets.access import Access
from tessera.secrets.datakeys import DataKeyCache, ProjectKeys
from tessera.secrets.models import Secret, SecretFolder, SecretTag, SecretVersion
from tessera.secrets.sealing import Location, SecretContent, open_secret

HIDDEN_VALUE = "<hidden-by-infisical>"
FOLDER_NOT_FOUND = "Folder not found for the given environment slug & secret path"
SECRET_NOT_FOUND = "Secret not found"  # noqa: S105 - a message


@dataclass(frozen=True, slots=True)
class Ctx:
    """One request's collaborators, passed explicitly to every service function."""

    session: Session
    principal: Principal
    data_keys: DataKeyCache
    now: datetime

    def keys(self, project: Project) -> ProjectKeys:
        return self.data_keys.get(self.session, project.id, now=self.now)


@dataclass(slots=True)
class SecretView:
    """A decrypted secret and where it lives, ready to be rendered; `value` may be expanded or hidden."""

    row: Secret
    project_id: str
    env_slug: str
    path: str
    content: SecretContent
    value: str
    hidden: bool = False
    tags: list[SecretTag] = field(default_factory=list)
    version: int = 0
    skip_multiline_encoding: bool | None = None
    version_created_at: datetime | None = None  # set for views of historical versions

    @property
    def key(self) -> str:
        return self.content.key


def project_in_org(session: Session, principal: Principal, project_id: str) -> Project:
    """A project of the caller's organisation; any other id is 'not found', never 'forbidden'."""
    project = session.get(Project, project_id)
    if project is None or project.org_id != principal.org_id:
        raise NotFound(f"Project with ID '{project_id}' not found", reason="project_not_found")
    return project


def resolve_project(
    session: Session,
    principal: Principal,
    *,
    project_id: str | None,
    project_slug: str | None,
    missing: str = "You must provide workspaceSlug or workspaceId",
) -> Project:
    """By id, or by slug within the caller's organisation. Raises BadRequest / NotFound."""
    if project_id:
        return project_in_org(session, principal, project_id)
    if project_slug:
        project = session.scalar(
            select(Project).where(Project.org_id == principal.org_id, Project.slug == project_slug)
        )
        if project is None:
            raise NotFound(f"No project found with slug {project_slug}", reason="project_not_found")
        return project
    raise BadRequest(missing, reason="project_missing")


def environment(session: Session, project: Project, slug: str) -> Environment:
    env = repo.environment_by_slug(session, project.id, slug)
    if env is None:
        raise NotFound(
            f"Environment with slug '{slug}' in project with ID {project.id} not found",
            reason="env_not_found",
        )
    return env


def location(project: Project, env: Environment, folder: SecretFolder) -> Location:
    return Location(project_id=project.id, env_id=env.id, path=folder.path)


def open_row(keys: ProjectKeys, where: Location, row: Secret | SecretVersion) -> SecretContent:
    return open_secret(keys, where, blind_index=row.blind_index, version=row.version, blob=row.ciphertext)


def view_of(
    row: Secret,
    project: Project,
    env: Environment,
    folder: SecretFolder,
    content: SecretContent,
    *,
    access: Access | None,
    view_value: bool = True,
) -> SecretView:
    """Build the view; the value is masked unless the caller may read it (and asked to)."""
    readable = view_value and (access is None or access.can_read_value(env.slug, folder.path, content.key))
    return SecretView(
        row=row,
        project_id=project.id,
        env_slug=env.slug,
        path=folder.path,
        content=content,
        value=content.value if readable else HIDDEN_VALUE,
        hidden=not readable,
        version=row.version,
        skip_multiline_encoding=row.skip_multiline_encoding,
    )


def attach_tags(session: Session, views: list[SecretView]) -> None:
    tags = repo.tags_by_secret(session, [v.row.id for v in views])
    for view in views:
        view.tags = tags.get(view.row.id, [])
