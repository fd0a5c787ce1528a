"""Secret-import routes: `/api/v1/secret-imports` (workspaceId) and `/api/v2/secret-imports` (projectId)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tessera.errors import BadRequest
from tessera.secrets import imports
from tessera.secrets.core import resolve_project
from tessera.secrets.http import CtxDep
from tessera.secrets.names import normalise_path
from tessera.secrets.schemas import ImportCreateIn, ImportDeleteIn, ImportUpdateIn
from tessera.secrets.wire import import_link_wire

router = APIRouter(tags=["secret imports"])

for _prefix in ("/api/v1/secret-imports", "/api/v2/secret-imports"):

    @router.post(_prefix, summary="Import another environment/path into a folder")
    def create_import(body: ImportCreateIn, ctx: CtxDep) -> dict[str, Any]:
        project = resolve_project(
            ctx.session, ctx.principal, project_id=body.any_id, project_slug=body.any_slug
        )
        if not body.import_.environment:
            raise BadRequest("import.environment is required", reason="import_env_missing")
        view = imports.create_import(
            ctx,
            project,
            body.environment,
            normalise_path(body.path, field="path"),
            body.import_.environment,
            normalise_path(body.import_.path, field="import.path"),
            is_replication=body.is_replication,
        )
        return {"message": "Successfully created secret import", "secretImport": import_link_wire(view)}

    @router.get(_prefix, summary="List a folder's imports")
    def list_imports(
        ctx: CtxDep,
        workspace_id: Annotated[str | None, Query(alias="workspaceId", max_length=64)] = None,
        project_id: Annotated[str | None, Query(alias="projectId", max_length=64)] = None,
        environment: Annotated[str | None, Query(max_length=64)] = None,
        path: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> dict[str, Any]:
        if not environment:
            raise BadRequest("Missing project id or environment", reason="project_or_env_missing")
        project = resolve_project(
            ctx.session, ctx.principal, project_id=workspace_id or project_id, project_slug=None
        )
        views = imports.list_imports(ctx, project, environment, normalise_path(path, field="path"))
        return {"secretImports": [import_link_wire(v) for v in views]}

    @router.patch(f"{_prefix}/{{import_id}}", summary="Change an import's source or position")
    def update_import(import_id: str, body: ImportUpdateIn, ctx: CtxDep) -> dict[str, Any]:
        project = resolve_project(
            ctx.session, ctx.principal, project_id=body.any_id, project_slug=body.any_slug
        )
        target = body.import_
        view = imports.update_import(
            ctx,
            project,
            body.environment,
            normalise_path(body.path, field="path"),
            import_id,
            import_env_slug=target.environment,
            import_path=normalise_path(target.path, field="import.path") if target.path is not None else None,
            position=target.position,
        )
        return {"message": "Successfully updated secret import", "secretImport": import_link_wire(view)}

    @router.delete(f"{_prefix}/{{import_id}}", summary="Remove an import")
    def delete_import(import_id: str, body: ImportDeleteIn, ctx: CtxDep) -> dict[str, Any]:
        project = resolve_project(
            ctx.session, ctx.principal, project_id=body.any_id, project_slug=body.any_slug
        )
        view = imports.delete_import(
            ctx, project, body.environment, normalise_path(body.path, field="path"), import_id
        )
        return {"message": "Successfully deleted secret import", "secretImport": import_link_wire(view)}
