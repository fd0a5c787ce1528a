"""Request handling shared by the v3 raw and v4 secrets routes (they differ only in parameter names)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from tessera.api.deps import AppContext, in_transaction
from tessera.audit.service import RequestContext
from tessera.errors import BadRequest
from tessera.projects.models import Project
from tessera.secrets import listing, service
from tessera.secrets.core import Ctx, resolve_project
from tessera.secrets.http import etag_json, open_ctx
from tessera.secrets.names import normalise_path
from tessera.secrets.schemas import (
    BatchCreateIn,
    BatchDeleteIn,
    BatchUpdateIn,
    ProjectRef,
    SecretCreateIn,
    SecretDeleteIn,
    SecretUpdateIn,
    batch_item,
)
from tessera.secrets.wire import list_wire, secret_wire


@dataclass(frozen=True, slots=True)
class ReadParams:
    project_id: str | None
    project_slug: str | None
    environment: str | None
    secret_path: str | None
    recursive: bool = False
    include_imports: bool = False
    expand: bool = False
    view_value: bool = True
    tag_slugs: str | None = None


def _query(params: ReadParams, path: str) -> listing.ListQuery:
    slugs = tuple(s.strip() for s in (params.tag_slugs or "").split(",") if s.strip())
    return listing.ListQuery(
        environment=params.environment or "",
        path=path,
        recursive=params.recursive,
        include_imports=params.include_imports,
        expand=params.expand,
        view_value=params.view_value,
        tag_slugs=slugs,
    )


# The two reads are the hottest routes: each runs as one unit of work (see `in_transaction`).


async def list_secrets(
    request: Request, context: AppContext, rctx: RequestContext, params: ReadParams, *, missing: str
) -> Response:
    """Raises BadRequest when the project or environment is missing (after authentication)."""

    def work(session: Session) -> Response:
        ctx = open_ctx(request, session, context, rctx)
        if not params.environment or not (params.project_id or params.project_slug):
            raise BadRequest(missing, reason="project_or_env_missing")
        project = resolve_project(
            ctx.session, ctx.principal, project_id=params.project_id, project_slug=params.project_slug
        )
        query = _query(params, normalise_path(params.secret_path))
        return etag_json(request, context, list_wire(listing.list_secrets(ctx, project, query)))

    return await in_transaction(request, context, rctx, work)


async def get_secret(
    request: Request,
    context: AppContext,
    rctx: RequestContext,
    name: str,
    params: ReadParams,
    *,
    version: int | None,
    secret_type: str | None,
) -> Response:
    def work(session: Session) -> Response:
        ctx = open_ctx(request, session, context, rctx)
        if not params.environment:
            raise BadRequest("Missing environment", reason="env_missing")
        project = resolve_project(
            ctx.session, ctx.principal, project_id=params.project_id, project_slug=params.project_slug
        )
        service.require_shared(secret_type)
        path = normalise_path(params.secret_path)
        at = service.Address(params.environment, path, name)
        view = service.get_secret(ctx, project, at, _query(params, path), version=version)
        return etag_json(request, context, {"secret": secret_wire(view)})

    return await in_transaction(request, context, rctx, work)


def _project(ctx: Ctx, body: ProjectRef) -> Project:
    return resolve_project(ctx.session, ctx.principal, project_id=body.any_id, project_slug=body.any_slug)


def create_secret(ctx: Ctx, name: str, body: SecretCreateIn) -> dict[str, Any]:
    service.require_shared(body.type)
    project = _project(ctx, body)
    at = service.Address(body.environment, normalise_path(body.secret_path), name)
    return {"secret": secret_wire(service.create_secret(ctx, project, at, body.write(body.secret_value)))}


def update_secret(ctx: Ctx, name: str, body: SecretUpdateIn) -> dict[str, Any]:
    service.require_shared(body.type)
    project = _project(ctx, body)
    at = service.Address(body.environment, normalise_path(body.secret_path), name)
    new_path = normalise_path(body.new_secret_path, field="newSecretPath") if body.new_secret_path else None
    data = body.write(body.secret_value, new_name=body.new_secret_name, new_path=new_path)
    return {"secret": secret_wire(service.update_secret(ctx, project, at, data))}


def delete_secret(ctx: Ctx, name: str, body: SecretDeleteIn) -> dict[str, Any]:
    service.require_shared(body.type)
    project = _project(ctx, body)
    at = service.Address(body.environment, normalise_path(body.secret_path), name)
    return {"secret": secret_wire(service.delete_secret(ctx, project, at))}


def _item_path(own: str | None, default: str) -> str:
    return normalise_path(own, field="secrets.secretPath") if own else default


def create_batch(ctx: Ctx, body: BatchCreateIn) -> dict[str, Any]:
    project, path = _project(ctx, body), normalise_path(body.secret_path)
    items = [
        batch_item(i.secret_key, _item_path(i.secret_path, path), i.write(i.secret_value))
        for i in body.secrets
    ]
    return {"secrets": [secret_wire(v) for v in service.create_many(ctx, project, body.environment, items)]}


def update_batch(ctx: Ctx, body: BatchUpdateIn) -> dict[str, Any]:
    project, path = _project(ctx, body), normalise_path(body.secret_path)
    items = [
        batch_item(
            i.secret_key, _item_path(i.secret_path, path), i.write(i.secret_value, new_name=i.new_secret_name)
        )
        for i in body.secrets
    ]
    return {"secrets": [secret_wire(v) for v in service.update_many(ctx, project, body.environment, items)]}


def delete_batch(ctx: Ctx, body: BatchDeleteIn) -> dict[str, Any]:
    project, path = _project(ctx, body), normalise_path(body.secret_path)
    for item in body.secrets:
        service.require_shared(item.type)
    items = [batch_item(i.secret_key, _item_path(i.secret_path, path)) for i in body.secrets]
    return {"secrets": [secret_wire(v) for v in service.delete_many(ctx, project, body.environment, items)]}
