"""Queries for folders, secrets, versions, imports and tags. Never commits; services decide."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tessera.projects.models import Environment
from tessera.secrets.models import (
    Secret,
    SecretFolder,
    SecretImport,
    SecretTag,
    SecretTagLink,
    SecretVersion,
)

SHARED = "shared"


def folder_at(session: Session, env_id: str, path: str) -> SecretFolder | None:
    return session.scalar(
        select(SecretFolder).where(SecretFolder.env_id == env_id, SecretFolder.path == path)
    )


def folder_by_id(session: Session, folder_id: str) -> SecretFolder | None:
    return session.get(SecretFolder, folder_id)


def child_folders(session: Session, parent_id: str) -> list[SecretFolder]:
    return list(
        session.scalars(
            select(SecretFolder).where(SecretFolder.parent_id == parent_id).order_by(SecretFolder.name)
        )
    )


def _under(path: str) -> ColumnElement[bool]:
    # A portable prefix test without LIKE, whose `_` and `%` wildcards are legal in folder names.
    prefix = path.rstrip("/") + "/"
    return func.substr(SecretFolder.path, 1, len(prefix)) == prefix


def subtree(session: Session, env_id: str, path: str, *, include_self: bool = True) -> list[SecretFolder]:
    """Folders at and below `path`, ordered by path (parents before children)."""
    below = and_(_under(path), SecretFolder.path != path)
    condition = or_(SecretFolder.path == path, below) if include_self else below
    return list(
        session.scalars(
            select(SecretFolder).where(SecretFolder.env_id == env_id, condition).order_by(SecretFolder.path)
        )
    )


def secret_in_folder(session: Session, folder_id: str, blind_index: str) -> Secret | None:
    return session.scalar(
        select(Secret).where(
            Secret.folder_id == folder_id, Secret.type == SHARED, Secret.blind_index == blind_index
        )
    )


@dataclass(frozen=True, slots=True)
class Located:
    secret: Secret
    folder: SecretFolder
    env: Environment
    tags: list[SecretTag]


# Built once: composing the statement costs more CPU than running it (it is the hot read).
_LOCATE_SECRET = (
    select(Secret, SecretFolder, Environment, SecretTag)
    .join(SecretFolder, SecretFolder.id == Secret.folder_id)
    .join(Environment, Environment.id == SecretFolder.env_id)
    .outerjoin(SecretTagLink, SecretTagLink.secret_id == Secret.id)
    .outerjoin(SecretTag, SecretTag.id == SecretTagLink.tag_id)
    .where(
        Environment.project_id == bindparam("p_project_id"),
        Environment.slug == bindparam("p_env_slug"),
        SecretFolder.path == bindparam("p_path"),
        Secret.type == SHARED,
        Secret.blind_index == bindparam("p_blind_index"),
    )
    .order_by(SecretTag.slug)
)


def locate_secret(
    session: Session, project_id: str, env_slug: str, path: str, blind_index: str
) -> Located | None:
    """The hot read in one indexed query: environment, folder, secret and its tags (outer join,
    one row per tag)."""
    rows = session.execute(
        _LOCATE_SECRET,
        {"p_project_id": project_id, "p_env_slug": env_slug, "p_path": path, "p_blind_index": blind_index},
    ).all()
    if not rows:
        return None
    secret, folder, env, _tag = rows[0]
    return Located(secret, folder, env, [row[3] for row in rows if row[3] is not None])


def secrets_in_folders(session: Session, folder_ids: Sequence[str]) -> list[Secret]:
    if not folder_ids:
        return []
    return list(
        session.scalars(
            select(Secret)
            .where(Secret.folder_id.in_(folder_ids), Secret.type == SHARED)
            .order_by(Secret.folder_id, Secret.created_at, Secret.id)
        )
    )


def count_secrets(session: Session, folder_ids: Sequence[str]) -> int:
    if not folder_ids:
        return 0
    return (
        session.scalar(select(func.count()).select_from(Secret).where(Secret.folder_id.in_(folder_ids))) or 0
    )


def versions_of(
    session: Session, secret_id: str, *, offset: int = 0, limit: int | None = None
) -> list[SecretVersion]:
    query = (
        select(SecretVersion)
        .where(SecretVersion.secret_id == secret_id)
        .order_by(SecretVersion.version.desc())
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def version_of(session: Session, secret_id: str, version: int) -> SecretVersion | None:
    return session.scalar(
        select(SecretVersion).where(SecretVersion.secret_id == secret_id, SecretVersion.version == version)
    )


def versions_for(session: Session, secret_ids: Iterable[str]) -> list[SecretVersion]:
    ids = list(secret_ids)
    if not ids:
        return []
    return list(session.scalars(select(SecretVersion).where(SecretVersion.secret_id.in_(ids))))


def tags_by_secret(session: Session, secret_ids: Sequence[str]) -> dict[str, list[SecretTag]]:
    result: dict[str, list[SecretTag]] = defaultdict(list)
    if not secret_ids:
        return result
    rows = session.execute(
        select(SecretTagLink.secret_id, SecretTag)
        .join(SecretTag, SecretTag.id == SecretTagLink.tag_id)
        .where(SecretTagLink.secret_id.in_(secret_ids))
        .order_by(SecretTag.slug)
    )
    for secret_id, tag in rows:
        result[secret_id].append(tag)
    return result


def tags_by_ids(session: Session, project_id: str, tag_ids: Sequence[str]) -> list[SecretTag]:
    if not tag_ids:
        return []
    return list(
        session.scalars(
            select(SecretTag).where(SecretTag.project_id == project_id, SecretTag.id.in_(tag_ids))
        )
    )


def tags_by_slugs(session: Session, project_id: str, slugs: Sequence[str]) -> list[SecretTag]:
    if not slugs:
        return []
    return list(
        session.scalars(
            select(SecretTag).where(SecretTag.project_id == project_id, SecretTag.slug.in_(slugs))
        )
    )


def set_tags(session: Session, secret_id: str, tag_ids: Sequence[str]) -> None:
    session.execute(delete(SecretTagLink).where(SecretTagLink.secret_id == secret_id))
    for tag_id in dict.fromkeys(tag_ids):
        session.add(SecretTagLink(secret_id=secret_id, tag_id=tag_id))
    session.flush()


def imports_of(session: Session, folder_id: str) -> list[SecretImport]:
    return list(
        session.scalars(
            select(SecretImport)
            .where(SecretImport.folder_id == folder_id)
            .order_by(SecretImport.position, SecretImport.created_at)
        )
    )


def environment_by_slug(session: Session, project_id: str, slug: str) -> Environment | None:
    return session.scalar(
        select(Environment).where(Environment.project_id == project_id, Environment.slug == slug)
    )


def environments_by_id(session: Session, env_ids: Iterable[str]) -> dict[str, Environment]:
    ids = list(set(env_ids))
    if not ids:
        return {}
    return {env.id: env for env in session.scalars(select(Environment).where(Environment.id.in_(ids)))}
