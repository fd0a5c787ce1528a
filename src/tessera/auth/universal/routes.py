"""Universal Auth routes: `/api/v1/auth/universal-auth/...` as Infisical clients call them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from tessera.api.deps import ContextDep, PrincipalDep, RequestCtxDep, SessionDep, in_transaction
from tessera.api.responses import JSONResponse
from tessera.auth.universal import service
from tessera.auth.universal.models import IdentityUAClientSecret, IdentityUniversalAuth
from tessera.auth.universal.schemas import (
    ClientSecretCreateIn,
    UniversalAuthAttachIn,
    UniversalAuthLoginIn,
    UniversalAuthPatchIn,
)
from tessera.clock import iso_js

PREFIX = "/api/v1/auth/universal-auth"
router = APIRouter(prefix=PREFIX, tags=["universal-auth"])


def config_wire(config: IdentityUniversalAuth) -> dict[str, Any]:
    """`identityUniversalAuth`: an allow-list; the lockout state itself is not exposed."""
    return {
        **config.common_wire(),
        "clientId": config.client_id,
        "clientSecretTrustedIps": list(config.client_secret_trusted_ips),
        "lockoutEnabled": config.lockout_enabled,
        "lockoutThreshold": config.lockout_threshold,
        "lockoutDurationSeconds": config.lockout_duration_seconds,
        "lockoutCounterResetSeconds": config.lockout_counter_reset_seconds,
    }


def client_secret_wire(row: IdentityUAClientSecret) -> dict[str, Any]:
    """The sanitised client secret: never the hash, never the plaintext."""
    return {
        "id": row.id,
        "createdAt": iso_js(row.created_at),
        "updatedAt": iso_js(row.updated_at),
        "description": row.description,
        "clientSecretPrefix": row.secret_prefix,
        "clientSecretNumUses": row.num_uses,
        "clientSecretNumUsesLimit": row.num_uses_limit,
        "clientSecretTTL": row.ttl_seconds,
        "clientSecretLastUsedAt": iso_js(row.last_used_at),
        "identityUAId": row.identity_ua_id,
        "isClientSecretRevoked": row.is_revoked,
    }


@router.post("/login", summary="Log in with a client id and client secret", response_model=None)
async def login(
    body: UniversalAuthLoginIn, request: Request, context: ContextDep, ctx: RequestCtxDep
) -> JSONResponse:
    # A hot route: the whole login is one unit of work in one worker-thread trip.
    def work(session: Session) -> JSONResponse:
        result = service.login(
            session,
            body,
            now=context.clock.now(),
            key=service.client_secret_key(context.signing_secret),
            signing_secret=context.signing_secret,
            ctx=ctx,
        )
        return JSONResponse(result.to_wire())

    return await in_transaction(request, context, ctx, work)


@router.post("/identities/{identity_id}", summary="Attach Universal Auth to an identity")
def attach(
    identity_id: str,
    body: UniversalAuthAttachIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    config = service.attach(session, principal, identity_id, body, now=context.clock.now(), ctx=ctx)
    return {"identityUniversalAuth": config_wire(config)}


@router.patch("/identities/{identity_id}", summary="Update an identity's Universal Auth")
def update(
    identity_id: str,
    body: UniversalAuthPatchIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    config = service.update_config(session, principal, identity_id, body, now=context.clock.now(), ctx=ctx)
    return {"identityUniversalAuth": config_wire(config)}


@router.get("/identities/{identity_id}", summary="Get an identity's Universal Auth")
def get(identity_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"identityUniversalAuth": config_wire(service.get_config(session, principal, identity_id))}


@router.delete("/identities/{identity_id}", summary="Remove Universal Auth and revoke its tokens")
def revoke(
    identity_id: str, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    config = service.revoke_config(session, principal, identity_id, now=context.clock.now(), ctx=ctx)
    return {"identityUniversalAuth": config_wire(config)}


@router.post("/identities/{identity_id}/clear-lockouts", summary="Lift a Universal Auth lockout")
def clear_lockouts(
    identity_id: str, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    return {
        "deleted": service.clear_lockouts(session, principal, identity_id, now=context.clock.now(), ctx=ctx)
    }


@router.post("/identities/{identity_id}/client-secrets", summary="Create a client secret (shown once)")
def create_client_secret(
    identity_id: str,
    body: ClientSecretCreateIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    plaintext, row = service.create_client_secret(
        session,
        principal,
        identity_id,
        body,
        now=context.clock.now(),
        key=service.client_secret_key(context.signing_secret),
        ctx=ctx,
    )
    return {"clientSecret": plaintext, "clientSecretData": client_secret_wire(row)}


@router.get("/identities/{identity_id}/client-secrets", summary="List an identity's live client secrets")
def list_client_secrets(identity_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    rows = service.list_client_secrets(session, principal, identity_id)
    return {"clientSecretData": [client_secret_wire(row) for row in rows]}


@router.get("/identities/{identity_id}/client-secrets/{secret_id}", summary="Get a client secret's details")
def get_client_secret(
    identity_id: str, secret_id: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    row = service.get_client_secret(session, principal, identity_id, secret_id)
    return {"clientSecretData": client_secret_wire(row)}


@router.post(
    "/identities/{identity_id}/client-secrets/{secret_id}/revoke",
    summary="Revoke a client secret and the tokens minted with it",
)
def revoke_client_secret(
    identity_id: str,
    secret_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    row = service.revoke_client_secret(
        session, principal, identity_id, secret_id, now=context.clock.now(), ctx=ctx
    )
    return {"clientSecretData": client_secret_wire(row)}
