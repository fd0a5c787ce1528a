"""Folder routes in both forms: v1 (CLI, go-sdk: workspaceId, `directory`) and v2 (Python SDK: projectId)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from tessera.api.deps import ContextDep
from tessera.errors import BadRequest, ValidationFailure
from tessera.projects.models import Project
from tessera.secrets import folders
from tessera.secrets.core import Ctx, resolve_project
from tessera.secrets.http import CtxDep, etag_json, lenient_flag
from tessera.secrets.names import normalise_path
from tessera.secrets.schemas import (
    FolderBatchUpdateIn,
    FolderCreateIn,
    FolderDeleteIn,
    FolderUpdateIn,
    ProjectRef,
)
from tessera.secrets.wire import folder_wire

router = APIRouter(tags=["folders"])
MISSING = "Missing project id or environment"


def _project(ctx: Ctx, body: ProjectRef) -> Project:
    return resolve_project(ctx.session, ctx.principal, project_id=body.any_id, project_slug=body.any_slug)


def _path(path: str | None, directory: str | None) -> str:
    return normalise_path(path if path is not None else directory, field="path")


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailure("lastSecretModified", "lastSecretModified must be an ISO-8601 time") from exc


def _list(
    request: Request,
    ctx: Ctx,
    context: Any,
    project_id: str | None,
    environment: str | None,
    path: str,
    *,
    recursive: bool,
    since: datetime | None = None,
) -> Response:
    if not project_id or not environment:
        raise BadRequest(MISSING, reason="project_or_env_missing")
    project = resolve_project(ctx.session, ctx.principal, project_id=project_id, project_slug=None)
    views = folders.list_folders(ctx, project, environment, path, recursive=recursive)
    if since is not None:
        views = [v for v in views if v.folder.last_secret_modified and v.folder.last_secret_modified >= since]
    return etag_json(request, context, {"folders": [folder_wire(v) for v in views]})


@router.get("/api/v1/folders", summary="List folders (direct children)", response_model=None)
def list_v1(
    request: Request,
    ctx: CtxDep,
    context: ContextDep,
    workspace_id: Annotated[str | None, Query(alias="workspaceId", max_length=64)] = None,
    project_id: Annotated[str | None, Query(alias="projectId", max_length=64)] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    path: Annotated[str | None, Query(max_length=1024)] = None,
    directory: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    return _list(
        request,
        ctx,
        context,
        workspace_id or project_id,
        environment,
        _path(path, directory),
        recursive=False,
    )


@router.get("/api/v2/folders", summary="List folders", response_model=None)
def list_v2(
    request: Request,
    ctx: CtxDep,
    context: ContextDep,
    project_id: Annotated[str | None, Query(alias="projectId", max_length=64)] = None,
    workspace_id: Annotated[str | None, Query(alias="workspaceId", max_length=64)] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    path: Annotated[str | None, Query(max_length=1024)] = None,
    directory: Annotated[str | None, Query(max_length=1024)] = None,
    recursive: Annotated[str | None, Query(max_length=16)] = None,
    last_secret_modified: Annotated[str | None, Query(alias="lastSecretModified", max_length=64)] = None,
) -> Response:
    return _list(
        request,
        ctx,
        context,
        project_id or workspace_id,
        environment,
        _path(path, directory),
        recursive=lenient_flag(recursive),
        since=_since(last_secret_modified),
    )


@router.get("/api/v2/folders/{folder_id}", summary="Get a folder by id")
def get_v2(folder_id: str, ctx: CtxDep) -> dict[str, Any]:
    return {"folder": folder_wire(folders.get_folder(ctx, folder_id), detail=True)}


def _create(ctx: Ctx, body: FolderCreateIn) -> dict[str, Any]:
    view = folders.create_folder(
        ctx,
        _project(ctx, body),
        body.environment,
        _path(body.path, body.directory),
        body.name,
        body.description,
    )
    return {"folder": folder_wire(view, path=True)}


def _update(ctx: Ctx, folder_id: str, body: FolderUpdateIn) -> dict[str, Any]:
    view = folders.update_folder(
        ctx,
        _project(ctx, body),
        body.environment,
        _path(body.path, body.directory),
        folder_id,
        body.name,
        body.description,
    )
    return {"folder": folder_wire(view, path=True)}


def _delete(ctx: Ctx, id_or_name: str, body: FolderDeleteIn) -> dict[str, Any]:
    view = folders.delete_folder(
        ctx, _project(ctx, body), body.environment, _path(body.path, body.directory), id_or_name
    )
    return {"folder": folder_wire(view)}


@router.post("/api/v1/folders", summary="Create a folder (missing parents are created)")
def create_v1(body: FolderCreateIn, ctx: CtxDep) -> dict[str, Any]:
    return _create(ctx, body)


@router.post("/api/v2/folders", summary="Create a folder (missing parents are created)")
def create_v2(body: FolderCreateIn, ctx: CtxDep) -> dict[str, Any]:
    return _create(ctx, body)


@router.patch("/api/v2/folders/batch", summary="Rename or describe several folders (all or nothing)")
def update_batch_v2(body: FolderBatchUpdateIn, ctx: CtxDep) -> dict[str, Any]:
    project = _project(ctx, body)
    views = [
        folders.update_folder(
            ctx, project, item.environment, _path(item.path, None), item.id, item.name, item.description
        )
        for item in body.folders
    ]
    return {"folders": [folder_wire(v, path=True) for v in views]}


@router.patch("/api/v1/folders/{folder_id}", summary="Rename or describe a folder")
def update_v1(folder_id: str, body: FolderUpdateIn, ctx: CtxDep) -> dict[str, Any]:
    return _update(ctx, folder_id, body)


@router.patch("/api/v2/folders/{folder_id}", summary="Rename or describe a folder")
def update_v2(folder_id: str, body: FolderUpdateIn, ctx: CtxDep) -> dict[str, Any]:
    return _update(ctx, folder_id, body)


@router.delete("/api/v1/folders/{folder_id_or_name}", summary="Delete a folder and everything in it")
def delete_v1(folder_id_or_name: str, body: FolderDeleteIn, ctx: CtxDep) -> dict[str, Any]:
    return _delete(ctx, folder_id_or_name, body)


@router.delete("/api/v2/folders/{folder_id_or_name}", summary="Delete a folder and everything in it")
def delete_v2(folder_id_or_name: str, body: FolderDeleteIn, ctx: CtxDep) -> dict[str, Any]:
    return _delete(ctx, folder_id_or_name, body)
