"""Access-token routes: renew and revoke (no auth header needed), revoke-all, and admin views."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tessera.api.deps import ContextDep, PrincipalDep, RequestCtxDep, SessionDep
from tessera.auth import token_service
from tessera.auth.token_uses import current_usage
from tessera.clock import iso_js
from tessera.identities.models import IdentityAccessToken

router = APIRouter(tags=["access-tokens"])

REVOKED_MESSAGE = "Successfully revoked access token"
MAX_TOKEN_LENGTH = 16_384


class AccessTokenIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(alias="accessToken", min_length=1, max_length=MAX_TOKEN_LENGTH)

    @field_validator("access_token")
    @classmethod
    def _trim(cls, value: str) -> str:
        return value.strip()


class RevokeAllIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity_id: str = Field(alias="identityId", min_length=1, max_length=64)


def token_row_wire(row: IdentityAccessToken) -> dict[str, Any]:
    """An access-token row as Infisical returns it (`tokenData`, Token Auth listings); no secret."""
    uses, last_used_at = current_usage(row)
    return {
        "id": row.id,
        "identityId": row.identity_id,
        "name": row.name,
        "authMethod": row.auth_method,
        "accessTokenTTL": row.ttl_seconds,
        "accessTokenMaxTTL": row.max_ttl_seconds,
        "accessTokenNumUses": uses,
        "accessTokenNumUsesLimit": row.num_uses_limit,
        "accessTokenLastUsedAt": iso_js(last_used_at),
        "accessTokenLastRenewedAt": iso_js(row.last_renewed_at),
        "accessTokenPeriod": 0,
        "isAccessTokenRevoked": row.is_revoked,
        "identityUAClientSecretId": row.client_secret_id,
        "createdAt": iso_js(row.created_at),
        "updatedAt": iso_js(row.updated_at),
    }


def token_view_wire(view: token_service.TokenView) -> dict[str, Any]:
    """What an admin learns about a token: who, how, when, how much — never the token itself."""
    row = view.token
    uses, last_used_at = current_usage(row)
    return {
        "tokenId": row.id,
        "identityId": view.identity.id,
        "identityName": view.identity.name,
        "name": row.name,
        "authMethod": row.auth_method,
        "createdAt": iso_js(row.created_at),
        "expiresAt": iso_js(row.expires_at),
        "maxExpiresAt": iso_js(row.max_expires_at),
        "lastRenewedAt": iso_js(row.last_renewed_at),
        "numUses": uses,
        "numUsesLimit": row.num_uses_limit,
        "lastUsedAt": iso_js(last_used_at),
        "trustedIps": list(row.trusted_ips),
        "clientSecretId": row.client_secret_id,
        "revoked": row.is_revoked,
        "active": view.active,
        "inactiveReason": view.problem,
    }


@router.post("/api/v1/auth/token/renew", summary="Renew an access token (never past its max TTL)")
def renew(
    body: AccessTokenIn, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    result = token_service.renew(
        session, body.access_token, now=context.clock.now(), secret=context.signing_secret, ctx=ctx
    )
    return result.to_wire()


@router.post("/api/v1/auth/token/revoke", summary="Revoke an access token")
def revoke(
    body: AccessTokenIn, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    token_service.revoke(
        session, body.access_token, now=context.clock.now(), secret=context.signing_secret, ctx=ctx
    )
    return {"message": REVOKED_MESSAGE}


@router.post("/api/v1/auth/token/revoke-all", summary="Revoke every access token of an identity")
def revoke_all(
    body: RevokeAllIn, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    count = token_service.revoke_all(session, principal, body.identity_id, now=context.clock.now(), ctx=ctx)
    return {"message": "Successfully revoked all access tokens of the identity", "revokedCount": count}


@router.post("/api/v1/auth/token/introspect", summary="Describe an access token (admins)")
def introspect(
    body: AccessTokenIn, session: SessionDep, principal: PrincipalDep, context: ContextDep
) -> dict[str, Any]:
    view = token_service.introspect(
        session, principal, body.access_token, now=context.clock.now(), secret=context.signing_secret
    )
    return {"token": token_view_wire(view)}


@router.post("/api/v1/auth/token/{token_id}/revoke", summary="Revoke an access token by id (admins)")
def admin_revoke(
    token_id: str, session: SessionDep, principal: PrincipalDep, context: ContextDep, ctx: RequestCtxDep
) -> dict[str, Any]:
    token_service.admin_revoke(session, principal, token_id, now=context.clock.now(), ctx=ctx)
    return {"message": REVOKED_MESSAGE}


@router.get("/api/v1/identities/{identity_id}/tokens", summary="List an identity's active access tokens")
def list_identity_tokens(
    identity_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=100),
) -> dict[str, Any]:
    views = token_service.list_identity_tokens(
        session, principal, identity_id, now=context.clock.now(), offset=offset, limit=limit
    )
    return {"tokens": [token_view_wire(view) for view in views]}
