"""Secret imports: a folder that also presents another environment/path's secrets (read-through)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tessera.errors import BadRequest, Conflict, NotFound
from tessera.projects.models import Environment, Project
from tessera.secrets import repository as repo
from tessera.secrets.access import IMPORTS, Access
from tessera.secrets.core import FOLDER_NOT_FOUND, Ctx, environment
from tessera.secrets.folders import folder_for_write
from tessera.secrets.models import SecretFolder, SecretImport


@dataclass(frozen=True, slots=True)
class ImportLinkView:
    link: SecretImport
    import_env: Environment


def _folder(ctx: Ctx, project: Project, env: Environment, path: str) -> SecretFolder:
    return folder_for_write(ctx, project, env, path)


def create_import(
    ctx: Ctx,
    project: Project,
    env_slug: str,
    path: str,
    import_env_slug: str,
    import_path: str,
    *,
    is_replication: bool = False,
) -> ImportLinkView:
    """Raises PermissionDenied, NotFound, BadRequest (self-import), Conflict (duplicate)."""
    access = Access(ctx.session, ctx.principal, project)
    access.require("create", IMPORTS, env=env_slug, path=path)
    env = environment(ctx.session, project, env_slug)
    import_env = environment(ctx.session, project, import_env_slug)
    if env.id == import_env.id and path == import_path:
        raise BadRequest("A folder cannot import itself", reason="self_import")
    if is_replication:
        raise BadRequest("Replicated imports are not supported", reason="replication_unsupported")
    folder = _folder(ctx, project, env, path)
    last = ctx.session.scalar(
        select(func.max(SecretImport.position)).where(SecretImport.folder_id == folder.id)
    )
    link = SecretImport(
        folder_id=folder.id,
        import_env_id=import_env.id,
        import_path=import_path,
        position=(last or 0) + 1,
        is_replication=False,
        version=1,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    try:
        with ctx.session.begin_nested():
            ctx.session.add(link)
            ctx.session.flush()
    except IntegrityError as exc:
        raise Conflict("Secret import already exists", reason="import_exists") from exc
    return ImportLinkView(link, import_env)


def list_imports(ctx: Ctx, project: Project, env_slug: str, path: str) -> list[ImportLinkView]:
    access = Access(ctx.session, ctx.principal, project)
    access.require("read", IMPORTS, env=env_slug, path=path)
    env = environment(ctx.session, project, env_slug)
    folder = repo.folder_at(ctx.session, env.id, path)
    if folder is None:
        return []
    links = repo.imports_of(ctx.session, folder.id)
    envs = repo.environments_by_id(ctx.session, [link.import_env_id for link in links])
    return [ImportLinkView(link, envs[link.import_env_id]) for link in links]


def _link(ctx: Ctx, env: Environment, path: str, import_id: str) -> SecretImport:
    folder = repo.folder_at(ctx.session, env.id, path)
    if folder is None:
        raise NotFound(FOLDER_NOT_FOUND, reason="folder_not_found")
    link = ctx.session.get(SecretImport, import_id)
    if link is None or link.folder_id != folder.id:
        raise NotFound("Secret import not found", reason="import_not_found")
    return link


def update_import(
    ctx: Ctx,
    project: Project,
    env_slug: str,
    path: str,
    import_id: str,
    *,
    import_env_slug: str | None,
    import_path: str | None,
    position: int | None,
) -> ImportLinkView:
    access = Access(ctx.session, ctx.principal, project)
    access.require("edit", IMPORTS, env=env_slug, path=path)
    env = environment(ctx.session, project, env_slug)
    link = _link(ctx, env, path, import_id)
    import_env = environment(ctx.session, project, import_env_slug) if import_env_slug else None
    if import_env is not None:
        link.import_env_id = import_env.id
    if import_path is not None:
        link.import_path = import_path
    if position is not None:
        link.position = position
    link.version += 1
    link.updated_at = ctx.now
    try:
        with ctx.session.begin_nested():
            ctx.session.flush()
    except IntegrityError as exc:
        raise Conflict("Secret import already exists", reason="import_exists") from exc
    final_env = ctx.session.get(Environment, link.import_env_id)
    assert final_env is not None
    return ImportLinkView(link, final_env)


def delete_import(ctx: Ctx, project: Project, env_slug: str, path: str, import_id: str) -> ImportLinkView:
    access = Access(ctx.session, ctx.principal, project)
    access.require("delete", IMPORTS, env=env_slug, path=path)
    env = environment(ctx.session, project, env_slug)
    link = _link(ctx, env, path, import_id)
    import_env = ctx.session.get(Environment, link.import_env_id)
    assert import_env is not None
    view = ImportLinkView(link, import_env)
    ctx.session.delete(link)
    ctx.session.flush()
    return view
