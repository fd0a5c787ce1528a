"""Listing secrets: one folder or a subtree, filtered per secret by permission, with imports.

The read path per secret is one row from an indexed query and one AES-GCM open. What the caller
may not describe is left out rather than failing the list; values the caller may not read are
masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tessera.projects.models import Environment, Project
from tessera.secrets import repository as repo
from tessera.secrets.access import Access
from tessera.secrets.core import Ctx, SecretView, attach_tags, environment, location, open_row, view_of
from tessera.secrets.datakeys import ProjectKeys
from tessera.secrets.expansion import ReferenceResolver
from tessera.secrets.models import SecretFolder

MAX_IMPORT_DEPTH = 10


@dataclass(frozen=True, slots=True)
class ListQuery:
    environment: str
    path: str
    recursive: bool = False
    include_imports: bool = False
    expand: bool = False
    view_value: bool = True
    tag_slugs: tuple[str, ...] = ()


@dataclass(slots=True)
class ImportView:
    env_slug: str
    path: str
    folder_id: str | None
    secrets: list[SecretView] = field(default_factory=list)


@dataclass(slots=True)
class ListResult:
    secrets: list[SecretView]
    imports: list[ImportView] | None = None


class _Reader:
    """Opens and filters the secrets of folders for one request."""

    def __init__(
        self, ctx: Ctx, project: Project, access: Access, keys: ProjectKeys, query: ListQuery
    ) -> None:
        self.ctx, self.project, self.access, self.keys, self.query = ctx, project, access, keys, query
        self.resolver = ReferenceResolver(ctx, project, access, keys)

    def folder_secrets(self, env: Environment, folders: list[SecretFolder]) -> list[SecretView]:
        readable = [f for f in folders if self.access.can_describe(env.slug, f.path)]
        by_id = {f.id: f for f in readable}
        views: list[SecretView] = []
        for row in repo.secrets_in_folders(self.ctx.session, list(by_id)):
            folder = by_id[row.folder_id]
            content = open_row(self.keys, location(self.project, env, folder), row)
            if not self.access.can_describe(env.slug, folder.path, content.key):
                continue
            views.append(
                view_of(
                    row,
                    self.project,
                    env,
                    folder,
                    content,
                    access=self.access,
                    view_value=self.query.view_value,
                )
            )
        attach_tags(self.ctx.session, views)
        if self.query.tag_slugs:
            wanted = set(self.query.tag_slugs)
            views = [v for v in views if wanted & {t.slug for t in v.tags}]
        if self.query.expand:
            for view in views:
                self.resolver.expand_view(view)
        return views

    def imports(self, env: Environment, folder: SecretFolder) -> list[ImportView]:
        out: list[ImportView] = []
        self._walk_imports(folder, out, {(env.id, folder.path)}, 0)
        return out

    def _walk_imports(
        self, folder: SecretFolder, out: list[ImportView], seen: set[tuple[str, str]], depth: int
    ) -> None:
        if depth >= MAX_IMPORT_DEPTH:
            return
        links = [i for i in repo.imports_of(self.ctx.session, folder.id) if not i.is_replication]
        envs = repo.environments_by_id(self.ctx.session, [i.import_env_id for i in links])
        for link in links:
            env = envs.get(link.import_env_id)
            if env is None or (env.id, link.import_path) in seen:
                continue
            if not self.access.can_describe(env.slug, link.import_path):
                continue
            seen.add((env.id, link.import_path))
            target = repo.folder_at(self.ctx.session, env.id, link.import_path)
            view = ImportView(env.slug, link.import_path, target.id if target else None)
            if target is not None:
                view.secrets = self.folder_secrets(env, [target])
            out.append(view)
            if target is not None:
                self._walk_imports(target, out, seen, depth + 1)


def list_secrets(ctx: Ctx, project: Project, query: ListQuery) -> ListResult:
    """Raises PermissionDenied (non-recursive list of a folder the caller may not describe),
    NotFound (environment), Forbidden (a reference the caller may not read)."""
    access = Access(ctx.session, ctx.principal, project)
    if not query.recursive:
        access.require_describe(query.environment, query.path)
    env = environment(ctx.session, project, query.environment)
    if query.recursive:
        folders = repo.subtree(ctx.session, env.id, query.path)
    else:
        found = repo.folder_at(ctx.session, env.id, query.path)
        folders = [found] if found else []
    if not folders:
        # A missing folder is an empty list, as clients expect, not a 404.
        return ListResult(secrets=[], imports=[] if query.include_imports else None)
    reader = _Reader(ctx, project, access, ctx.keys(project), query)
    secrets = reader.folder_secrets(env, folders)
    imports = reader.imports(env, folders[0]) if query.include_imports else None
    return ListResult(secrets=secrets, imports=imports)


def find_in_imports(
    ctx: Ctx,
    project: Project,
    access: Access,
    env: Environment,
    folder: SecretFolder,
    name: str,
    query: ListQuery,
) -> SecretView | None:
    """A secret missing locally is searched in the folder's imports, last import first."""
    reader = _Reader(ctx, project, access, ctx.keys(project), query)
    for imported in reversed(reader.imports(env, folder)):
        for view in imported.secrets:
            if view.key == name:
                return view
    return None
