"""Project tag routes, in the `workspace` and `projects` forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tessera.secrets import tags
from tessera.secrets.core import project_in_org
from tessera.secrets.http import CtxDep
from tessera.secrets.schemas import TagCreateIn
from tessera.secrets.wire import tag_wire

router = APIRouter(tags=["tags"])

for _prefix, _one, _many in (
    ("/api/v1/workspace", "workspaceTag", "workspaceTags"),
    ("/api/v1/projects", "tag", "tags"),
):

    def _make(one: str, many: str, prefix: str) -> None:
        @router.post(f"{prefix}/{{project_id}}/tags", summary="Create a tag")
        def create_tag(project_id: str, body: TagCreateIn, ctx: CtxDep) -> dict[str, Any]:
            project = project_in_org(ctx.session, ctx.principal, project_id)
            return {
                one: tag_wire(tags.create_tag(ctx, project, slug=body.slug, name=body.name, color=body.color))
            }

        @router.get(f"{prefix}/{{project_id}}/tags", summary="List tags")
        def list_tags(project_id: str, ctx: CtxDep) -> dict[str, Any]:
            project = project_in_org(ctx.session, ctx.principal, project_id)
            return {many: [tag_wire(t) for t in tags.list_tags(ctx, project)]}

        @router.delete(f"{prefix}/{{project_id}}/tags/{{tag_id}}", summary="Delete a tag")
        def delete_tag(project_id: str, tag_id: str, ctx: CtxDep) -> dict[str, Any]:
            project = project_in_org(ctx.session, ctx.principal, project_id)
            return {one: tag_wire(tags.delete_tag(ctx, project, tag_id))}

    _make(_one, _many, _prefix)
