"""`/api/v3/secrets/raw`: the routes `infisicalsdk` and go-sdk call (project by workspaceId or slug)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from tessera.api.deps import ContextDep, RequestCtxDep, read_only
from tessera.secrets import routes_common as common
from tessera.secrets.http import BoolQuery, CtxDep, flag
from tessera.secrets.schemas import (
    BatchCreateIn,
    BatchDeleteIn,
    BatchUpdateIn,
    SecretCreateIn,
    SecretDeleteIn,
    SecretUpdateIn,
)

router = APIRouter(prefix="/api/v3/secrets", tags=["secrets v3"])


def _params(
    workspace_id: str | None,
    workspace_slug: str | None,
    environment: str | None,
    secret_path: str | None,
    **flags: Any,
) -> common.ReadParams:
    return common.ReadParams(
        project_id=workspace_id,
        project_slug=workspace_slug,
        environment=environment,
        secret_path=secret_path,
        **flags,
    )


@router.get("/raw", summary="List secrets", response_model=None)
@read_only
async def list_secrets(
    request: Request,
    context: ContextDep,
    rctx: RequestCtxDep,
    workspace_id: Annotated[str | None, Query(alias="workspaceId", max_length=64)] = None,
    workspace_slug: Annotated[str | None, Query(alias="workspaceSlug", max_length=64)] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    secret_path: Annotated[str | None, Query(alias="secretPath", max_length=1024)] = None,
    expand_refs: Annotated[BoolQuery, Query(alias="expandSecretReferences")] = None,
    recursive: BoolQuery = None,
    include_imports: Annotated[BoolQuery, Query(alias="include_imports")] = None,
    view_value: Annotated[BoolQuery, Query(alias="viewSecretValue")] = None,
    tag_slugs: Annotated[str | None, Query(alias="tagSlugs", max_length=2048)] = None,
) -> Response:
    params = _params(
        workspace_id,
        workspace_slug,
        environment,
        secret_path,
        recursive=flag(recursive, False),
        include_imports=flag(include_imports, False),
        expand=flag(expand_refs, False),
        view_value=flag(view_value, True),
        tag_slugs=tag_slugs,
    )
    return await common.list_secrets(
        request, context, rctx, params, missing="Missing workspace id or environment"
    )


@router.get("/raw/{secret_name}", summary="Get a secret by name", response_model=None)
@read_only
async def get_secret(
    secret_name: str,
    request: Request,
    context: ContextDep,
    rctx: RequestCtxDep,
    workspace_id: Annotated[str | None, Query(alias="workspaceId", max_length=64)] = None,
    workspace_slug: Annotated[str | None, Query(alias="workspaceSlug", max_length=64)] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    secret_path: Annotated[str | None, Query(alias="secretPath", max_length=1024)] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    type: Annotated[str | None, Query(max_length=16)] = None,
    expand_refs: Annotated[BoolQuery, Query(alias="expandSecretReferences")] = None,
    include_imports: Annotated[BoolQuery, Query(alias="include_imports")] = None,
    view_value: Annotated[BoolQuery, Query(alias="viewSecretValue")] = None,
) -> Response:
    params = _params(
        workspace_id,
        workspace_slug,
        environment,
        secret_path,
        include_imports=flag(include_imports, False),
        expand=flag(expand_refs, False),
        view_value=flag(view_value, True),
    )
    return await common.get_secret(
        request, context, rctx, secret_name, params, version=version, secret_type=type
    )


@router.post("/raw/{secret_name}", summary="Create a secret")
def create_secret(secret_name: str, body: SecretCreateIn, ctx: CtxDep) -> dict[str, Any]:
    return common.create_secret(ctx, secret_name, body)


@router.patch("/raw/{secret_name}", summary="Update, rename or move a secret")
def update_secret(secret_name: str, body: SecretUpdateIn, ctx: CtxDep) -> dict[str, Any]:
    return common.update_secret(ctx, secret_name, body)


@router.delete("/raw/{secret_name}", summary="Delete a secret")
def delete_secret(secret_name: str, body: SecretDeleteIn, ctx: CtxDep) -> dict[str, Any]:
    return common.delete_secret(ctx, secret_name, body)


@router.post("/batch/raw", summary="Create several secrets (all or nothing)")
def create_batch(body: BatchCreateIn, ctx: CtxDep) -> dict[str, Any]:
    return common.create_batch(ctx, body)


@router.patch("/batch/raw", summary="Update several secrets (all or nothing)")
def update_batch(body: BatchUpdateIn, ctx: CtxDep) -> dict[str, Any]:
    return common.update_batch(ctx, body)


@router.delete("/batch/raw", summary="Delete several secrets (all or nothing)")
def delete_batch(body: BatchDeleteIn, ctx: CtxDep) -> dict[str, Any]:
    return common.delete_batch(ctx, body)
