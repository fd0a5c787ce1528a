"""Project tags for secrets (minimal: create, list, delete; filtering by slug on lists)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tessera.errors import Conflict, NotFound, ValidationFailure
from tessera.projects.models import Project
from tessera.secrets.access import Access
from tessera.secrets.core import Ctx
from tessera.secrets.models import SecretTag
from tessera.text import is_slug, slugify

TAGS = "tags"


def create_tag(
    ctx: Ctx, project: Project, *, slug: str | None, name: str | None, color: str | None
) -> SecretTag:
    """Raises PermissionDenied, ValidationFailure, Conflict."""
    Access(ctx.session, ctx.principal, project).require("create", TAGS, env=None, path=None)
    slug = slug or slugify(name or "", max_length=64)
    if not is_slug(slug):
        raise ValidationFailure("slug", "Tag slug must be lowercase letters, digits and single hyphens")
    tag = SecretTag(
        project_id=project.id,
        slug=slug,
        name=name or slug,
        color=color,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    try:
        with ctx.session.begin_nested():
            ctx.session.add(tag)
            ctx.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A tag with slug '{slug}' already exists", reason="tag_exists") from exc
    return tag


def list_tags(ctx: Ctx, project: Project) -> list[SecretTag]:
    Access(ctx.session, ctx.principal, project).require("read", TAGS, env=None, path=None)
    return list(
        ctx.session.scalars(
            select(SecretTag).where(SecretTag.project_id == project.id).order_by(SecretTag.slug)
        )
    )


def delete_tag(ctx: Ctx, project: Project, tag_id: str) -> SecretTag:
    Access(ctx.session, ctx.principal, project).require("delete", TAGS, env=None, path=None)
    tag = ctx.session.get(SecretTag, tag_id)
    if tag is None or tag.project_id != project.id:
        raise NotFound("Tag not found", reason="tag_not_found")
    ctx.session.delete(tag)
    ctx.session.flush()
    return tag
