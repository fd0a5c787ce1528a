"""Token Auth routes: `/api/v1/auth/token-auth/...` as Infisical clients call them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from tessera.api.deps import ContextDep, PrincipalDep, RequestCtxDep, SessionDep
from tessera.auth.token import service
from tessera.auth.token.models import IdentityTokenAuth
from tessera.auth.token.schemas import TokenAuthAttachIn, TokenAuthPatchIn, TokenCreateIn, TokenUpdateIn
from tessera.auth.token_routes import REVOKED_MESSAGE, token_row_wire

router = APIRouter(prefix="/api/v1/auth/token-auth", tags=["token-auth"])


def config_wire(config: IdentityTokenAuth) -> dict[str, Any]:
    return config.common_wire()


@router.post("/identities/{identity_id}", summary="Attach Token Auth to an identity")
def attach(
    identity_id: str,
    body: TokenAuthAttachIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    config = service.attach(session, principal, identity_id, body, now=context.clock.now(), ctx=ctx)
    return {"identityTokenAuth": config_wire(config)}


@router.patch("/identities/{identity_id}", summary="Update an identity's Token Auth")
def update(
    identity_id: str,
    body: TokenAuthPatchIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    config = service.update_config(session, principal, identity_id, body, now=context.clock.now(), ctx=ctx)
    return {"identityTokenAuth": config_wire(config)}


@router.get("/identities/{identity_id}", summary="Get an identity's Token Auth")
def get(identity_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"identityTokenAuth": config_wire(service.get_config(session, principal, identity_id))}


@router.delete("/identities/{identity_id}", summary="Remove Token Auth and revoke its tokens")
def revoke(
    identity_id: str, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    config = service.revoke_config(session, principal, identity_id, now=context.clock.now(), ctx=ctx)
    return {"identityTokenAuth": config_wire(config)}


@router.post("/identities/{identity_id}/tokens", summary="Mint an access token for an identity")
def create_token(
    identity_id: str,
    body: TokenCreateIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    result, row = service.create_token(
        session,
        principal,
        identity_id,
        body,
        now=context.clock.now(),
        signing_secret=context.signing_secret,
        ctx=ctx,
    )
    return {**result.to_wire(), "tokenData": token_row_wire(row)}


@router.get("/identities/{identity_id}/tokens", summary="List an identity's Token Auth tokens")
def list_tokens(
    identity_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    offset: int = Query(0, ge=0, le=100),
    limit: int = Query(20, ge=1, le=100),
) -> dict[str, Any]:
    rows = service.list_tokens(session, principal, identity_id, offset=offset, limit=limit)
    return {"tokens": [token_row_wire(row) for row in rows]}


@router.get("/tokens/{token_id}", summary="Get a Token Auth token")
def get_token(token_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"token": token_row_wire(service.get_token(session, principal, token_id))}


@router.get("/identities/{identity_id}/tokens/{token_id}", summary="Get a Token Auth token (older path)")
def get_token_legacy(
    identity_id: str, token_id: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    row = service.get_token(session, principal, token_id, identity_id=identity_id)
    return {"token": token_row_wire(row)}


@router.patch("/tokens/{token_id}", summary="Rename a Token Auth token")
def update_token(
    token_id: str, body: TokenUpdateIn, session: SessionDep, principal: PrincipalDep, context: ContextDep
) -> dict[str, Any]:
    row = service.update_token(session, principal, token_id, body, now=context.clock.now())
    return {"token": token_row_wire(row)}


@router.post("/tokens/{token_id}/revoke", summary="Revoke a Token Auth token")
def revoke_token(
    token_id: str, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    service.revoke_token(session, principal, token_id, now=context.clock.now(), ctx=ctx)
    return {"message": REVOKED_MESSAGE}
