"""Reading and writing single secrets (v3 raw and v4 share these functions).

Every write seals the new content once and stores the same blob in the live row and in its
version row; the live row is changed by a conditional UPDATE on its version, so two concurrent
writers cannot both succeed from the same starting state (the loser gets 409).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from tessera.errors import BadRequest, Conflict, NotFound
from tessera.projects.models import Environment, Project
from tessera.secrets import folders as folder_service
from tessera.secrets import repository as repo
from tessera.secrets.access import Access
from tessera.secrets.core import (
    FOLDER_NOT_FOUND,
    SECRET_NOT_FOUND,
    Ctx,
    SecretView,
    attach_tags,
    environment,
    location,
    open_row,
    view_of,
)
from tessera.secrets.datakeys import ProjectKeys
from tessera.secrets.expansion import ReferenceResolver
from tessera.secrets.listing import ListQuery, find_in_imports
from tessera.secrets.models import Secret, SecretFolder, SecretTag, SecretVersion
from tessera.secrets.names import canonical_name, normalise_value, validate_comment, validate_secret_name
from tessera.secrets.sealing import Location, SecretContent, seal_secret

PERSONAL_UNSUPPORTED = "Personal secrets belong to users; machine identities can only use shared secrets"


def require_shared(secret_type: str | None) -> None:
    if secret_type not in (None, "shared"):
        raise BadRequest(PERSONAL_UNSUPPORTED, reason="personal_secret")


@dataclass(frozen=True, slots=True)
class SecretWrite:
    """The fields a create or update may set; None means "leave as is" on update."""

    value: str | None = None
    comment: str | None = None
    new_name: str | None = None
    new_path: str | None = None
    tag_ids: list[str] | None = None
    skip_multiline_encoding: bool | None = None
    reminder_repeat_days: int | None = None
    reminder_note: str | None = None
    metadata: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """Which secret: environment slug, normalised folder path and name."""

    environment: str
    path: str
    name: str

    def __post_init__(self) -> None:
        # Looked-up names get the spelling stored names get, so no verb or permission check
        # sees a different name than the one written (e.g. NFD vs NFC).
        object.__setattr__(self, "name", canonical_name(self.name))


@dataclass(slots=True)
class _Loaded:
    env: Environment
    folder: SecretFolder
    row: Secret
    content: SecretContent
    keys: ProjectKeys = field(repr=False)
    tags: list[SecretTag] = field(default_factory=list)


def _load(ctx: Ctx, project: Project, at: Address) -> _Loaded:
    keys = ctx.keys(project)
    hit = repo.locate_secret(ctx.session, project.id, at.environment, at.path, keys.blind_index(at.name))
    if hit is None:
        env = environment(ctx.session, project, at.environment)  # NotFound names a missing environment
        if repo.folder_at(ctx.session, env.id, at.path) is None:
            raise NotFound(FOLDER_NOT_FOUND, reason="folder_not_found")
        raise NotFound(SECRET_NOT_FOUND, reason="secret_not_found")
    content = open_row(keys, location(project, hit.env, hit.folder), hit.secret)
    return _Loaded(hit.env, hit.folder, hit.secret, content, keys, hit.tags)


def get_secret(
    ctx: Ctx, project: Project, at: Address, query: ListQuery, *, version: int | None = None
) -> SecretView:
    """Raises PermissionDenied, NotFound, Forbidden (reference), DecryptionFailed."""
    access = Access(ctx.session, ctx.principal, project)
    access.require_describe(at.environment, at.path, at.name)
    try:
        loaded = _load(ctx, project, at)
    except NotFound as exc:
        found = _from_imports(ctx, project, access, at, query) if exc.reason == "secret_not_found" else None
        if found is None:
            raise
        return found
    row: Secret | SecretVersion = loaded.row
    if version is not None and version != loaded.row.version:
        old = repo.version_of(ctx.session, loaded.row.id, version)
        if old is None:
            raise NotFound("Secret version not found", reason="version_not_found")
        row = old
    where = location(project, loaded.env, loaded.folder)
    content = open_row(loaded.keys, where, row) if row is not loaded.row else loaded.content
    view = view_of(
        loaded.row, project, loaded.env, loaded.folder, content, access=access, view_value=query.view_value
    )
    view.version, view.skip_multiline_encoding = row.version, row.skip_multiline_encoding
    view.tags = loaded.tags
    if query.expand:
        ReferenceResolver(ctx, project, access, loaded.keys).expand_view(view)
    return view


def _from_imports(
    ctx: Ctx, project: Project, access: Access, at: Address, query: ListQuery
) -> SecretView | None:
    if not query.include_imports:
        return None
    env = environment(ctx.session, project, at.environment)
    folder = repo.folder_at(ctx.session, env.id, at.path)
    if folder is None:
        return None
    return find_in_imports(ctx, project, access, env, folder, at.name, query)


def _content(name: str, data: SecretWrite, base: SecretContent | None = None) -> SecretContent:
    return SecretContent(
        key=name,
        value=normalise_value(data.value) if data.value is not None else (base.value if base else ""),
        comment=validate_comment(data.comment)
        if data.comment is not None
        else (base.comment if base else ""),
        reminder_note=data.reminder_note
        if data.reminder_note is not None
        else (base.reminder_note if base else None),
        metadata=data.metadata if data.metadata is not None else (base.metadata if base else []),
    )


def _check_tags(ctx: Ctx, project: Project, tag_ids: list[str] | None) -> None:
    if tag_ids and len(repo.tags_by_ids(ctx.session, project.id, tag_ids)) != len(set(tag_ids)):
        raise NotFound("Tag not found", reason="tag_not_found")


def _record_version(ctx: Ctx, row: Secret) -> None:
    ctx.session.add(
        SecretVersion(
            secret_id=row.id,
            version=row.version,
            blind_index=row.blind_index,
            ciphertext=row.ciphertext,
            skip_multiline_encoding=row.skip_multiline_encoding,
            reminder_repeat_days=row.reminder_repeat_days,
            actor_id=ctx.principal.identity_id,
            created_at=ctx.now,
        )
    )


def create_secret(ctx: Ctx, project: Project, at: Address, data: SecretWrite) -> SecretView:
    """Raises ValidationFailure, PayloadTooLarge, PermissionDenied, NotFound, Conflict."""
    name = validate_secret_name(at.name)
    access = Access(ctx.session, ctx.principal, project)
    access.require("create", env=at.environment, path=at.path, name=name)
    env = environment(ctx.session, project, at.environment)
    folder = folder_service.folder_for_write(ctx, project, env, at.path)
    _check_tags(ctx, project, data.tag_ids)
    keys = ctx.keys(project)
    content = _content(name, data)
    blind_index, blob = seal_secret(keys, location(project, env, folder), content, 1)
    row = Secret(
        folder_id=folder.id,
        type="shared",
        blind_index=blind_index,
        ciphertext=blob,
        version=1,
        skip_multiline_encoding=bool(data.skip_multiline_encoding),
        reminder_repeat_days=data.reminder_repeat_days,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    try:
        with ctx.session.begin_nested():
            ctx.session.add(row)
            ctx.session.flush()
    except IntegrityError as exc:
        raise Conflict("Secret already exist", reason="secret_exists") from exc
    _record_version(ctx, row)
    repo.set_tags(ctx.session, row.id, data.tag_ids or [])
    folder.last_secret_modified = ctx.now
    view = view_of(row, project, env, folder, content, access=access)
    attach_tags(ctx.session, [view])
    return view


def _destination(
    ctx: Ctx, project: Project, access: Access, loaded: _Loaded, at: Address, data: SecretWrite
) -> tuple[str, SecretFolder]:
    """The (name, folder) an update writes to, with the permission checks a rename or move needs."""
    name = validate_secret_name(data.new_name) if data.new_name else at.name
    folder = loaded.folder
    if data.new_path is not None and data.new_path != at.path:
        access.require("delete", env=at.environment, path=at.path, name=at.name)
        access.require("create", env=at.environment, path=data.new_path, name=name)
        folder = folder_service.folder_for_write(ctx, project, loaded.env, data.new_path)
    elif name != at.name:
        access.require("edit", env=at.environment, path=at.path, name=name)
    return name, folder


def update_secret(ctx: Ctx, project: Project, at: Address, data: SecretWrite) -> SecretView:
    """Raises ValidationFailure, PermissionDenied, NotFound, Conflict (name taken or a concurrent write)."""
    access = Access(ctx.session, ctx.principal, project)
    access.require("edit", env=at.environment, path=at.path, name=at.name)
    loaded = _load(ctx, project, at)
    name, folder = _destination(ctx, project, access, loaded, at, data)
    _check_tags(ctx, project, data.tag_ids)
    content = _content(name, data, loaded.content)
    row = loaded.row
    moved = folder.id != loaded.folder.id
    new_version = row.version + 1
    blind_index, blob = seal_secret(loaded.keys, location(project, loaded.env, folder), content, new_version)
    skip = (
        row.skip_multiline_encoding if data.skip_multiline_encoding is None else data.skip_multiline_encoding
    )
    reminder = (
        data.reminder_repeat_days if data.reminder_repeat_days is not None else row.reminder_repeat_days
    )
    if moved:
        _reseal_versions(ctx, loaded, location(project, loaded.env, folder))
    _write(ctx, row, folder.id, blind_index, blob, new_version, skip, reminder)
    if data.tag_ids is not None:
        repo.set_tags(ctx.session, row.id, data.tag_ids)
    folder.last_secret_modified = ctx.now
    view = view_of(row, project, loaded.env, folder, content, access=access)
    attach_tags(ctx.session, [view])
    return view


def _write(
    ctx: Ctx,
    row: Secret,
    folder_id: str,
    blind_index: str,
    blob: bytes,
    new_version: int,
    skip: bool | None,
    reminder: int | None,
) -> None:
    try:
        with ctx.session.begin_nested():
            result = ctx.session.execute(
                update(Secret)
                .where(Secret.id == row.id, Secret.version == row.version)
                .values(
                    folder_id=folder_id,
                    blind_index=blind_index,
                    ciphertext=blob,
                    version=new_version,
                    skip_multiline_encoding=skip,
                    reminder_repeat_days=reminder,
                    updated_at=ctx.now,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("The secret was changed by another request; retry", reason="write_race")
    except IntegrityError as exc:
        raise Conflict("Secret with the new name already exist", reason="secret_exists") from exc
    ctx.session.refresh(row)
    _record_version(ctx, row)
    try:
        ctx.session.flush()
    except IntegrityError as exc:  # a concurrent writer recorded this version number first
        raise Conflict("The secret was changed by another request; retry", reason="write_race") from exc


def _reseal_versions(ctx: Ctx, loaded: _Loaded, new_where: Location) -> None:
    """Versions are bound to the secret's folder path; a move re-seals them for the new path."""
    old_where = location_of(loaded)
    for old in repo.versions_of(ctx.session, loaded.row.id):
        content = open_row(loaded.keys, old_where, old)
        old.blind_index, old.ciphertext = seal_secret(loaded.keys, new_where, content, old.version)


def location_of(loaded: _Loaded) -> Location:
    return Location(loaded.keys.project_id, loaded.env.id, loaded.folder.path)


def delete_secret(ctx: Ctx, project: Project, at: Address) -> SecretView:
    """Raises PermissionDenied, NotFound. Returns the deleted secret."""
    access = Access(ctx.session, ctx.principal, project)
    access.require("delete", env=at.environment, path=at.path, name=at.name)
    loaded = _load(ctx, project, at)
    view = view_of(loaded.row, project, loaded.env, loaded.folder, loaded.content, access=access)
    attach_tags(ctx.session, [view])
    loaded.folder.last_secret_modified = ctx.now
    ctx.session.delete(loaded.row)
    ctx.session.flush()
    return view


def rollback_to(ctx: Ctx, project: Project, at: Address, version: int) -> SecretView:
    """Write a new version whose content is that of `version`. Raises NotFound, PermissionDenied."""
    access = Access(ctx.session, ctx.principal, project)
    access.require("edit", env=at.environment, path=at.path, name=at.name)
    loaded = _load(ctx, project, at)
    old = repo.version_of(ctx.session, loaded.row.id, version)
    if old is None:
        raise NotFound("Secret version not found", reason="version_not_found")
    where = location_of(loaded)
    content = open_row(loaded.keys, where, old)
    if content.key != loaded.content.key:
        access.require("edit", env=at.environment, path=at.path, name=content.key)
    new_version = loaded.row.version + 1
    blind_index, blob = seal_secret(loaded.keys, where, content, new_version)
    _write(
        ctx,
        loaded.row,
        loaded.folder.id,
        blind_index,
        blob,
        new_version,
        old.skip_multiline_encoding,
        old.reminder_repeat_days,
    )
    loaded.folder.last_secret_modified = ctx.now
    view = view_of(loaded.row, project, loaded.env, loaded.folder, content, access=access)
    attach_tags(ctx.session, [view])
    return view


@dataclass(frozen=True, slots=True)
class BatchItem:
    name: str
    path: str
    data: SecretWrite = field(default_factory=SecretWrite)


def _precheck(ctx: Ctx, project: Project, env_slug: str, items: list[BatchItem], action: str) -> None:
    """Every item is authorised before anything is written; one refusal writes nothing."""
    access = Access(ctx.session, ctx.principal, project)
    for item in items:
        name = validate_secret_name(item.name) if action == "create" else item.name
        access.require(action, env=env_slug, path=item.path, name=name)


def create_many(ctx: Ctx, project: Project, env_slug: str, items: list[BatchItem]) -> list[SecretView]:
    _precheck(ctx, project, env_slug, items, "create")
    return [create_secret(ctx, project, Address(env_slug, i.path, i.name), i.data) for i in items]


def update_many(ctx: Ctx, project: Project, env_slug: str, items: list[BatchItem]) -> list[SecretView]:
    _precheck(ctx, project, env_slug, items, "edit")
    return [update_secret(ctx, project, Address(env_slug, i.path, i.name), i.data) for i in items]


def delete_many(ctx: Ctx, project: Project, env_slug: str, items: list[BatchItem]) -> list[SecretView]:
    _precheck(ctx, project, env_slug, items, "delete")
    return [delete_secret(ctx, project, Address(env_slug, i.path, i.name)) for i in items]
