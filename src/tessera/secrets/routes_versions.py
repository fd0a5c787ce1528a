"""Secret history routes: `/api/v1/secret/{secretId}/secret-versions` (list, read one, roll back)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tessera.secrets import versions
from tessera.secrets.http import CtxDep
from tessera.secrets.schemas import RollbackIn
from tessera.secrets.wire import secret_wire, version_wire

router = APIRouter(prefix="/api/v1/secret", tags=["secret versions"])


@router.get("/{secret_id}/secret-versions", summary="List a secret's versions, newest first")
def list_versions(
    secret_id: str,
    ctx: CtxDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    views = versions.list_versions(ctx, secret_id, offset=offset, limit=limit)
    return {"secretVersions": [version_wire(v) for v in views]}


@router.get("/{secret_id}/secret-versions/{version}", summary="Read one version of a secret")
def read_version(secret_id: str, version: int, ctx: CtxDep) -> dict[str, Any]:
    return {"secretVersion": version_wire(versions.read_version(ctx, secret_id, version))}


@router.post("/{secret_id}/secret-versions/rollback", summary="Roll a secret back to an earlier version")
def rollback(secret_id: str, body: RollbackIn, ctx: CtxDep) -> dict[str, Any]:
    return {"secret": secret_wire(versions.rollback(ctx, secret_id, body.version))}
