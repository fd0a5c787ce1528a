"""`/api/v4/secrets`: the routes the current Infisical CLI uses (project by `projectId`)."""

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

router = APIRouter(prefix="/api/v4/secrets", tags=["secrets v4"])
ProjectId = Annotated[str | None, Query(alias="projectId", max_length=64)]
Env = Annotated[str | None, Query(max_length=64)]
SecretPath = Annotated[str | None, Query(alias="secretPath", max_length=1024)]


@router.get("", summary="List secrets", response_model=None)
@read_only
async def list_secrets(
    request: Request,
    context: ContextDep,
    rctx: RequestCtxDep,
    project_id: ProjectId = None,
    environment: Env = None,
    secret_path: SecretPath = None,
    expand_refs: Annotated[BoolQuery, Query(alias="expandSecretReferences")] = None,
    recursive: BoolQuery = None,
    include_imports: Annotated[BoolQuery, Query(alias="include_imports")] = None,
    include_imports_camel: Annotated[BoolQuery, Query(alias="includeImports")] = None,
    view_value: Annotated[BoolQuery, Query(alias="viewSecretValue")] = None,
    tag_slugs: Annotated[str | None, Query(alias="tagSlugs", max_length=2048)] = None,
) -> Response:
    # includePersonalOverrides is accepted and ignored: identities have no personal secrets.
    params = common.ReadParams(
        project_id=project_id,
        project_slug=None,
        environment=environment,
        secret_path=secret_path,
        recursive=flag(recursive, False),
        include_imports=flag(include_imports_camel, False) or flag(include_imports, False),
        expand=flag(expand_refs, False),
        view_value=flag(view_value, True),
        tag_slugs=tag_slugs,
    )
    return await common.list_secrets(
        request, context, rctx, params, missing="Missing project id or environment"
    )


@router.post("/batch", summary="Create several secrets (all or nothing)")
def create_batch(body: BatchCreateIn, ctx: CtxDep) -> dict[str, Any]:
    return common.create_batch(ctx, body)


@router.patch("/batch", summary="Update several secrets (all or nothing)")
def update_batch(body: BatchUpdateIn, ctx: CtxDep) -> dict[str, Any]:
    return common.update_batch(ctx, body)


@router.delete("/batch", summary="Delete several secrets (all or nothing)")
def delete_batch(body: BatchDeleteIn, ctx: CtxDep) -> dict[str, Any]:
    return common.delete_batch(ctx, body)


@router.get("/{secret_name}", summary="Get a secret by name", response_model=None)
@read_only
async def get_secret(
    secret_name: str,
    request: Request,
    context: ContextDep,
    rctx: RequestCtxDep,
    project_id: ProjectId = None,
    environment: Env = None,
    secret_path: SecretPath = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    type: Annotated[str | None, Query(max_length=16)] = None,
    expand_refs: Annotated[BoolQuery, Query(alias="expandSecretReferences")] = None,
    include_imports: Annotated[BoolQuery, Query(alias="include_imports")] = None,
    include_imports_camel: Annotated[BoolQuery, Query(alias="includeImports")] = None,
    view_value: Annotated[BoolQuery, Query(alias="viewSecretValue")] = None,
) -> Response:
    params = common.ReadParams(
        project_id=project_id,
        project_slug=None,
        environment=environment,
        secret_path=secret_path,
        include_imports=flag(include_imports_camel, False) or flag(include_imports, False),
        expand=flag(expand_refs, False),
        view_value=flag(view_value, True),
    )
    return await common.get_secret(
        request, context, rctx, secret_name, params, version=version, secret_type=type
    )


@router.post("/{secret_name}", summary="Create a secret")
def create_secret(secret_name: str, body: SecretCreateIn, ctx: CtxDep) -> dict[str, Any]:
    return common.create_secret(ctx, secret_name, body)


@router.patch("/{secret_name}", summary="Update, rename or move a secret")
def update_secret(secret_name: str, body: SecretUpdateIn, ctx: CtxDep) -> dict[str, Any]:
    return common.update_secret(ctx, secret_name, body)


@router.delete("/{secret_name}", summary="Delete a secret")
def delete_secret(secret_name: str, body: SecretDeleteIn, ctx: CtxDep) -> dict[str, Any]:
    return common.delete_secret(ctx, secret_name, body)
