"""Azure Auth routes: Infisical's paths and response shapes, plus the admin "explain" dry run."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tessera.api.deps import AppContext, ContextDep, PrincipalDep, RequestCtxDep, SessionDep, in_transaction
from tessera.api.responses import JSONResponse
from tessera.auth.azure import service
from tessera.auth.azure.clouds import authority_host
from tessera.auth.azure.jwks import get_jwks_cache
from tessera.auth.azure.models import IdentityAzureAuth
from tessera.auth.azure.schemas import AzureAuthAttachIn, AzureAuthPatchIn, AzureExplainIn, AzureLoginIn
from tessera.auth.azure.verify import unverified_key_id
from tessera.store.engine import read_session

router = APIRouter(prefix="/api/v1/auth/azure-auth", tags=["azure-auth"])


def _authority_for(context: AppContext) -> service.AuthorityFor:
    return partial(authority_host, context.settings)


def _reader(context: AppContext) -> service.Reader:
    """Short read-only sessions on the app's database."""
    engine = context.session_factory.kw["bind"]
    assert isinstance(engine, Engine)
    return partial(read_session, engine)


def _wire(config: IdentityAzureAuth) -> dict[str, Any]:
    return {"identityAzureAuth": service.config_wire(config)}


@router.post("/login", summary="Log in with an Entra ID managed-identity token", response_model=None)
async def login(
    body: AzureLoginIn, request: Request, context: ContextDep, ctx: RequestCtxDep
) -> JSONResponse:
    cache = get_jwks_cache(context)
    keys: service.KeySource = cache
    seen = unverified_key_id(body.jwt)
    if seen is None or not cache.has_fresh_key(*seen):
        # A key fetch can take seconds (a new tenant, a slow Entra). It runs here, in the shared
        # thread pool and before the login's unit of work, so it holds no write transaction and
        # none of the few threads the hot routes share.
        keys = await run_in_threadpool(
            service.prefetch_keys, _reader(context), body, cache, _authority_for(context)
        )

    def work(session: Session) -> JSONResponse:
        result = service.login(
            session,
            body,
            keys=keys,
            authority_for=_authority_for(context),
            now=context.clock.now(),
            signing_secret=context.signing_secret,
            ctx=ctx,
        )
        return JSONResponse(result.to_wire())

    return await in_transaction(request, context, ctx, work)


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
