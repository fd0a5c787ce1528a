"""Refresh-token credential routes under `/api/v1/auth/refresh-token-auth/...` (a Tessera extension)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tessera.api.deps import ContextDep, PrincipalDep, RequestCtxDep, SessionDep
from tessera.auth.refresh import service
from tessera.auth.refresh.schemas import RefreshLoginIn, RefreshTokenAuthAttachIn, RefreshTokenAuthPatchIn
from tessera.clock import iso_js

router = APIRouter(tags=["refresh-token-auth"])
PREFIX = "/api/v1/auth/refresh-token-auth"


def config_wire(view: service.CredentialView) -> dict[str, Any]:
    """`identityRefreshTokenAuth`: policy, rotation, expiration and usage — never a token or hash."""
    config = view.config
    return {
        **config.common_wire(),
        "refreshTokenRotationEnabled": config.rotation_enabled,
        "expiresAt": iso_js(config.expires_at),
        "tokenVersion": config.token_version,
        "refreshTokenUsageCount": config.refresh_token_usage_count,
        "refreshTokenLastUsedAt": iso_js(config.refresh_token_last_used_at),
        "accessTokenUsageCount": view.access_token_usage_count,
        "accessTokenLastUsedAt": iso_js(view.access_token_last_used_at),
    }


def _exchange(
    body: RefreshLoginIn, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    result = service.exchange(
        session,
        body,
        now=context.clock.now(),
        key=service.refresh_token_key(context.signing_secret),
        signing_secret=context.signing_secret,
        ctx=ctx,
    )
    wire = result.login.to_wire()
    if result.refresh_token is not None:
        wire["refreshToken"] = result.refresh_token
    return wire


@router.post(f"{PREFIX}/login", summary="Exchange a refresh token for an access token")
def login(
    body: RefreshLoginIn, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    return _exchange(body, session, context, ctx)


@router.post("/api/v1/auth/refresh-token/login", summary="Exchange a refresh token (alternative path)")
def login_alias(
    body: RefreshLoginIn, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    return _exchange(body, session, context, ctx)


@router.post(f"{PREFIX}/identities/{{identity_id}}", summary="Create a refresh-token credential")
def attach(
    identity_id: str,
    body: RefreshTokenAuthAttachIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view, refresh_token = service.attach(
        session,
        principal,
        identity_id,
        body,
        now=context.clock.now(),
        key=service.refresh_token_key(context.signing_secret),
        ctx=ctx,
    )
    return {"identityRefreshTokenAuth": config_wire(view), "refreshToken": refresh_token}


@router.patch(f"{PREFIX}/identities/{{identity_id}}", summary="Update a refresh-token credential")
def update(
    identity_id: str,
    body: RefreshTokenAuthPatchIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view = service.update_config(session, principal, identity_id, body, now=context.clock.now(), ctx=ctx)
    return {"identityRefreshTokenAuth": config_wire(view)}


@router.get(f"{PREFIX}/identities/{{identity_id}}", summary="Get a refresh-token credential and its usage")
def get(identity_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"identityRefreshTokenAuth": config_wire(service.get_config(session, principal, identity_id))}


@router.delete(f"{PREFIX}/identities/{{identity_id}}", summary="Remove the credential and revoke its tokens")
def revoke(
    identity_id: str, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    view = service.revoke_config(session, principal, identity_id, now=context.clock.now(), ctx=ctx)
    return {"identityRefreshTokenAuth": config_wire(view)}


@router.post(
    f"{PREFIX}/identities/{{identity_id}}/refresh-token",
    summary="Replace the refresh token (earlier ones stop working)",
)
def reissue(
    identity_id: str, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    view, refresh_token = service.reissue(
        session,
        principal,
        identity_id,
        now=context.clock.now(),
        key=service.refresh_token_key(context.signing_secret),
        ctx=ctx,
    )
    return {"identityRefreshTokenAuth": config_wire(view), "refreshToken": refresh_token}
