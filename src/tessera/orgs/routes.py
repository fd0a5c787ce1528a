"""Bootstrap and organisation routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tessera.api.deps import ContextDep, RequestCtxDep, SessionDep
from tessera.clock import iso_js
from tessera.orgs import service
from tessera.orgs.schemas import BootstrapIn

router = APIRouter(tags=["bootstrap"])


@router.post("/api/v1/admin/bootstrap", summary="Set up an empty instance (works once)")
def bootstrap(
    body: BootstrapIn, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    result = service.bootstrap(
        session,
        email=str(body.email),
        password=body.password,
        organization_name=body.organization,
        now=context.clock.now(),
        signing_secret=context.signing_secret,
        ctx=ctx,
    )
    return bootstrap_response(result)


def bootstrap_response(result: service.BootstrapResult) -> dict[str, Any]:
    return {
        "message": "Successfully bootstrapped instance",
        "user": {
            "id": result.user.id,
            "email": result.user.email,
            "username": result.user.email,
            "createdAt": iso_js(result.user.created_at),
        },
        "organization": {
            "id": result.organization.id,
            "name": result.organization.name,
            "slug": result.organization.slug,
        },
        "identity": {
            "id": result.identity.id,
            "name": result.identity.name,
            "credentials": {"token": result.login.access_token},
        },
    }
