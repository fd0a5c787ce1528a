"""Folders: a tree per environment, the root `/` an implicit reserved row created on first use.

Secrets are sealed to their folder's path, so renaming a folder re-seals the secrets (and their
versions) below it in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from tessera.errors import BadRequest, Conflict, NotFound
from tessera.projects.models import Environment, Project
from tessera.secrets import repository as repo
from tessera.secrets.access import FOLDERS, Access
from tessera.secrets.core import FOLDER_NOT_FOUND, Ctx, environment, open_row, project_in_org
from tessera.secrets.models import Secret, SecretFolder, SecretVersion
from tessera.secrets.names import join_path, parent_path, validate_folder_name
from tessera.secrets.sealing import Location, seal_secret

ROOT_NAME = "root"


@dataclass(frozen=True, slots=True)
class FolderView:
    folder: SecretFolder
    project_id: str
    env: Environment
    relative_path: str | None = None


def ensure_root(ctx: Ctx, project: Project, env: Environment) -> SecretFolder:
    root = repo.folder_at(ctx.session, env.id, "/")
    if root is not None:
        return root
    return _insert(ctx, project, env, None, "/", ROOT_NAME, None, reserved=True)


def _insert(
    ctx: Ctx,
    project: Project,
    env: Environment,
    parent: SecretFolder | None,
    path: str,
    name: str,
    description: str | None,
    *,
    reserved: bool = False,
) -> SecretFolder:
    folder = SecretFolder(
        project_id=project.id,
        env_id=env.id,
        parent_id=parent.id if parent else None,
        name=name,
        path=path,
        description=description,
        version=1,
        is_reserved=reserved,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    try:
        with ctx.session.begin_nested():
            ctx.session.add(folder)
            ctx.session.flush()
    except IntegrityError:
        # Created concurrently: use that one.
        existing = repo.folder_at(ctx.session, env.id, path)
        if existing is None:
            raise
        return existing
    return folder


def make_path(
    ctx: Ctx, project: Project, env: Environment, path: str, description: str | None = None
) -> SecretFolder:
    """The folder at `path`, creating it and any missing parents."""
    folder = ensure_root(ctx, project, env)
    current = "/"
    for segment in [s for s in path.split("/") if s]:
        current = join_path(current, segment)
        found = repo.folder_at(ctx.session, env.id, current)
        if found is None:
            found = _insert(
                ctx, project, env, folder, current, segment, description if current == path else None
            )
        folder = found
    return folder


def folder_for_write(ctx: Ctx, project: Project, env: Environment, path: str) -> SecretFolder:
    """The existing folder a secret is written to (the root is implicit). Raises NotFound."""
    if path == "/":
        return ensure_root(ctx, project, env)
    folder = repo.folder_at(ctx.session, env.id, path)
    if folder is None:
        raise NotFound(FOLDER_NOT_FOUND, reason="folder_not_found")
    return folder


def create_folder(
    ctx: Ctx, project: Project, env_slug: str, parent: str, name: str, description: str | None
) -> FolderView:
    """Idempotent: an existing folder of that name is returned. Raises ValidationFailure,
    PermissionDenied, NotFound (environment)."""
    name = validate_folder_name(name)
    Access(ctx.session, ctx.principal, project).require("create", FOLDERS, env=env_slug, path=parent)
    env = environment(ctx.session, project, env_slug)
    folder = make_path(ctx, project, env, join_path(parent, name), description)
    return FolderView(folder, project.id, env)


def list_folders(
    ctx: Ctx, project: Project, env_slug: str, path: str, *, recursive: bool
) -> list[FolderView]:
    """Direct children (or the whole subtree). A missing folder lists as empty."""
    access = Access(ctx.session, ctx.principal, project)
    access.require("read", FOLDERS, env=env_slug, path=path)
    env = environment(ctx.session, project, env_slug)
    base = repo.folder_at(ctx.session, env.id, path)
    if base is None:
        return []
    if not recursive:
        return [FolderView(f, project.id, env) for f in repo.child_folders(ctx.session, base.id)]
    below = repo.subtree(ctx.session, env.id, path, include_self=False)
    return [
        FolderView(f, project.id, env, relative_path=_relative(f.path, path))
        for f in below
        if access.can("read", FOLDERS, env=env_slug, path=parent_path(f.path))
    ]


def _relative(path: str, base: str) -> str:
    rest = path[len(base) :] if base != "/" else path
    return parent_path(rest if rest.startswith("/") else "/" + rest)


def get_folder(ctx: Ctx, folder_id: str) -> FolderView:
    """Raises NotFound (unknown, or another organisation's) and PermissionDenied."""
    folder = repo.folder_by_id(ctx.session, folder_id)
    if folder is None:
        raise NotFound(f"Folder with ID '{folder_id}' not found", reason="folder_not_found")
    project = project_in_org(ctx.session, ctx.principal, folder.project_id)
    env = ctx.session.get(Environment, folder.env_id)
    assert env is not None
    Access(ctx.session, ctx.principal, project).require(
        "read", FOLDERS, env=env.slug, path=parent_path(folder.path)
    )
    return FolderView(folder, project.id, env)


def _find(ctx: Ctx, env: Environment, parent: str, id_or_name: str) -> SecretFolder:
    folder = repo.folder_by_id(ctx.session, id_or_name)
    if folder is None or folder.env_id != env.id:
        folder = (
            repo.folder_at(ctx.session, env.id, join_path(parent, id_or_name)) if id_or_name.strip() else None
        )
    if folder is None or folder.is_reserved:
        raise NotFound(f"Folder with ID '{id_or_name}' not found", reason="folder_not_found")
    return folder


def update_folder(
    ctx: Ctx,
    project: Project,
    env_slug: str,
    parent: str,
    id_or_name: str,
    name: str | None,
    description: str | None,
) -> FolderView:
    """Rename (re-sealing what lies below) and/or describe. Raises PermissionDenied, NotFound, Conflict."""
    access = Access(ctx.session, ctx.principal, project)
    access.require("edit", FOLDERS, env=env_slug, path=parent)
    env = environment(ctx.session, project, env_slug)
    folder = _find(ctx, env, parent, id_or_name)
    # The folder's real parent decides too, not only what the caller claimed.
    access.require("edit", FOLDERS, env=env_slug, path=parent_path(folder.path))
    if description is not None:
        folder.description = description
    if name is not None and validate_folder_name(name) != folder.name:
        _rename(ctx, project, env, folder, validate_folder_name(name))
    folder.version += 1
    folder.updated_at = ctx.now
    ctx.session.flush()
    return FolderView(folder, project.id, env)


def _rename(ctx: Ctx, project: Project, env: Environment, folder: SecretFolder, name: str) -> None:
    old_path = folder.path
    new_path = join_path(parent_path(old_path), name)
    if repo.folder_at(ctx.session, env.id, new_path) is not None:
        raise Conflict(f"Folder with name '{name}' already exists", reason="folder_exists")
    keys = ctx.keys(project)
    tree = repo.subtree(ctx.session, env.id, old_path)
    rows = repo.secrets_in_folders(ctx.session, [f.id for f in tree])
    versions = repo.versions_for(ctx.session, [r.id for r in rows])
    old_paths = {f.id: f.path for f in tree}
    for moved in tree:
        moved.path = new_path + moved.path[len(old_path) :]
    folder.name = name
    folder_of = {r.id: r.folder_id for r in rows}
    items: list[tuple[Secret | SecretVersion, str]] = [(r, r.folder_id) for r in rows]
    items += [(v, folder_of[v.secret_id]) for v in versions]
    for item, folder_id in items:
        was = old_paths[folder_id]
        old = Location(project.id, env.id, was)
        new = Location(project.id, env.id, new_path + was[len(old_path) :])
        item.blind_index, item.ciphertext = seal_secret(keys, new, open_row(keys, old, item), item.version)
    try:
        with ctx.session.begin_nested():
            ctx.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Folder with name '{name}' already exists", reason="folder_exists") from exc


def delete_folder(ctx: Ctx, project: Project, env_slug: str, parent: str, id_or_name: str) -> FolderView:
    """Deletes the folder with everything below it. Raises PermissionDenied, NotFound, BadRequest."""
    access = Access(ctx.session, ctx.principal, project)
    access.require("delete", FOLDERS, env=env_slug, path=parent)
    env = environment(ctx.session, project, env_slug)
    folder = _find(ctx, env, parent, id_or_name)
    if folder.path == "/":
        raise BadRequest("The root folder cannot be deleted", reason="root_folder")
    access.require("delete", FOLDERS, env=env_slug, path=parent_path(folder.path))
    view = FolderView(folder, project.id, env)
    ctx.session.delete(folder)
    ctx.session.flush()
    return view
