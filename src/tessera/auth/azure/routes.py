"""Azure Auth routes: Infisical's paths and response shapes, plus the admin "explain" dry run."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter

from tessera.api.deps import AppContext, ContextDep, PrincipalDep, RequestCtxDep, SessionDep
from tessera.auth.azure import service
from tessera.auth.azure.clouds import authority_host
from tessera.auth.azure.jwks import get_jwks_cache
from tessera.auth.azure.models import IdentityAzureAuth
from tessera.auth.azure.schemas import AzureAuthAttachIn, AzureAuthPatchIn, AzureExplainIn, AzureLoginIn

router = APIRouter(prefix="/api/v1/auth/azure-auth", tags=["azure-auth"])


def _authority_for(context: AppContext) -> service.AuthorityFor:
    return partial(authority_host, context.settings)


def _wire(config: IdentityAzureAuth) -> dict[str, Any]:
    return {"identityAzureAuth": service.config_wire(config)}


@router.post("/login", summary="Log in with an Entra ID managed-identity token")
def login(body: AzureLoginIn, session: SessionDep, context: ContextDep, ctx: RequestCtxDep) -> dict[str, Any]:
    result = service.login(
        session,
        body,
        keys=get_jwks_cache(context),
        authority_for=_authority_for(context),
        now=context.clock.now(),
        signing_secret=context.signing_secret,
        ctx=ctx,
    )
    return result.to_wire()


@router.post("/identities/{identity_id}", summary="Attach Azure Auth to an identity")
def attach(
    identity_id: str,
    body: AzureAuthAttachIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    config = service.attach(session, principal, identity_id, body, now=context.clock.now(), ctx=ctx)
    return _wire(config)


@router.get("/identities/{identity_id}", summary="Read an identity's Azure Auth configuration")
def get(identity_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return _wire(service.get(session, principal, identity_id))


@router.patch("/identities/{identity_id}", summary="Update an identity's Azure Auth configuration")
def update(
    identity_id: str,
    body: AzureAuthPatchIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    config = service.update(session, principal, identity_id, body, now=context.clock.now(), ctx=ctx)
    return _wire(config)


@router.delete("/identities/{identity_id}", summary="Remove Azure Auth and revoke the tokens it issued")
def revoke(
    identity_id: str, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    return _wire(service.revoke(session, principal, identity_id, now=context.clock.now(), ctx=ctx))


@router.post(
    "/identities/{identity_id}/explain",
    summary="Dry run: which Azure Auth check a token fails and why (no token is issued)",
)
def explain(
    identity_id: str,
    body: AzureExplainIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    return service.explain(
        session,
        principal,
        identity_id,
        body.jwt,
        keys=get_jwks_cache(context),
        authority_for=_authority_for(context),
        now=context.clock.now(),
        ctx=ctx,
    )
