"""Secret history by secret id: list versions, roll back. Path-scoped like every secret read."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.errors import NotFound
from tessera.projects.models import Environment, Project
from tessera.secrets import repository as repo
from tessera.secrets import service
from tessera.secrets.access import Access
from tessera.secrets.core import (
    SECRET_NOT_FOUND,
    Ctx,
    SecretView,
    location,
    open_row,
    project_in_org,
    view_of,
)
from tessera.secrets.listing import ListQuery
from tessera.secrets.models import Secret, SecretFolder


@dataclass(frozen=True, slots=True)
class _Found:
    project: Project
    env: Environment
    folder: SecretFolder
    row: Secret
    name: str


def _find(ctx: Ctx, secret_id: str) -> _Found:
    """Another organisation's secret is 'not found', exactly like a missing one."""
    row = ctx.session.get(Secret, secret_id)
    folder = repo.folder_by_id(ctx.session, row.folder_id) if row is not None else None
    if row is None or folder is None:
        raise NotFound(SECRET_NOT_FOUND, reason="secret_not_found")
    try:
        project = project_in_org(ctx.session, ctx.principal, folder.project_id)
    except NotFound as exc:
        raise NotFound(SECRET_NOT_FOUND, reason="secret_not_found") from exc
    env = ctx.session.get(Environment, folder.env_id)
    assert env is not None
    content = open_row(ctx.keys(project), location(project, env, folder), row)
    return _Found(project, env, folder, row, content.key)


def list_versions(ctx: Ctx, secret_id: str, *, offset: int, limit: int) -> list[SecretView]:
    """Raises NotFound, PermissionDenied (history reveals values: readValue is required)."""
    found = _find(ctx, secret_id)
    access = Access(ctx.session, ctx.principal, found.project)
    access.require_read_value(found.env.slug, found.folder.path, found.name)
    keys = ctx.keys(found.project)
    where = location(found.project, found.env, found.folder)
    views = []
    for old in repo.versions_of(ctx.session, found.row.id, offset=offset, limit=limit):
        content = open_row(keys, where, old)
        view = view_of(found.row, found.project, found.env, found.folder, content, access=None)
        view.version, view.skip_multiline_encoding = old.version, old.skip_multiline_encoding
        view.version_created_at = old.created_at
        views.append(view)
    return views


def read_version(ctx: Ctx, secret_id: str, version: int) -> SecretView:
    found = _find(ctx, secret_id)
    at = service.Address(found.env.slug, found.folder.path, found.name)
    return service.get_secret(
        ctx, found.project, at, ListQuery(found.env.slug, found.folder.path), version=version
    )


def rollback(ctx: Ctx, secret_id: str, version: int) -> SecretView:
    found = _find(ctx, secret_id)
    Access(ctx.session, ctx.principal, found.project).require_read_value(
        found.env.slug, found.folder.path, found.name
    )
    at = service.Address(found.env.slug, found.folder.path, found.name)
    return service.rollback_to(ctx, found.project, at, version)
