"""Identity management routes (`/api/v1/identities`), answering in Infisical's shapes.

Tessera adds `isActive` and `expiresAt` to the identity objects.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from tessera.api.deps import ContextDep, PrincipalDep, RequestCtxDep, SessionDep
from tessera.clock import iso_js
from tessera.identities import service
from tessera.identities.schemas import IdentityCreateIn, IdentitySearchIn, IdentityUpdateIn
from tessera.rbac.schemas import org_role_wire

router = APIRouter(tags=["identities"])


def _metadata_wire(view: service.IdentityView) -> list[dict[str, Any]]:
    return [{"id": item.id, "key": item.key, "value": item.value} for item in view.metadata]


def identity_wire(view: service.IdentityView) -> dict[str, Any]:
    """The identity row as Infisical returns it from create/update/delete."""
    identity = view.identity
    return {
        "id": identity.id,
        "name": identity.name,
        "authMethod": None,
        "authMethods": view.auth_methods,
        "hasDeleteProtection": identity.has_delete_protection,
        "orgId": identity.org_id,
        "projectId": None,
        "isActive": identity.is_active,
        "expiresAt": iso_js(identity.expires_at),
        "createdAt": iso_js(identity.created_at),
        "updatedAt": iso_js(identity.updated_at),
        "metadata": _metadata_wire(view),
    }


def membership_wire(view: service.IdentityView) -> dict[str, Any]:
    """The org membership with the identity nested, as Infisical's GET and list return it."""
    membership, identity = view.membership, view.identity
    body: dict[str, Any] = {
        "id": membership.id,
        "role": membership.role,
        "roleId": membership.role_id,
        "orgId": membership.org_id,
        "identityId": identity.id,
        "createdAt": iso_js(membership.created_at),
        "updatedAt": iso_js(membership.updated_at),
        "lastLoginAuthMethod": membership.last_login_auth_method,
        "lastLoginTime": iso_js(membership.last_login_time),
        "metadata": _metadata_wire(view),
        "identity": {
            "id": identity.id,
            "name": identity.name,
            "hasDeleteProtection": identity.has_delete_protection,
            "orgId": identity.org_id,
            "authMethods": view.auth_methods,
            "activeLockoutAuthMethods": [],
            "isActive": identity.is_active,
            "expiresAt": iso_js(identity.expires_at),
        },
    }
    if view.custom_role is not None:
        body["customRole"] = org_role_wire(view.custom_role)
    return body


@router.post("/api/v1/identities", summary="Create a machine identity")
def create_identity(
    body: IdentityCreateIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view = service.create_identity(session, principal, body, now=context.clock.now(), ctx=ctx)
    return {"identity": identity_wire(view)}


@router.get("/api/v1/identities", summary="List the organisation's identities")
def list_identities(
    session: SessionDep,
    principal: PrincipalDep,
    org_id: str = Query(alias="orgId", description="The caller's organisation id."),
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    views, total = service.list_identities(session, principal, org_id, offset=offset, limit=limit)
    return {"identities": [membership_wire(v) for v in views], "totalCount": total}


@router.get("/api/v2/organizations/{org_id}/identity-memberships", summary="List identities (older form)")
def list_identity_memberships(
    org_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=20000),
) -> dict[str, Any]:
    views, total = service.list_identities(session, principal, org_id, offset=offset, limit=limit)
    return {"identityMemberships": [membership_wire(v) for v in views], "totalCount": total}


@router.post("/api/v1/identities/search", summary="Search identities by name and role")
def search_identities(body: IdentitySearchIn, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    views, total = service.search_identities(session, principal, body)
    return {"identities": [membership_wire(v) for v in views], "totalCount": total}


@router.get("/api/v1/identities/{identity_id}", summary="Get an identity")
def get_identity(identity_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"identity": membership_wire(service.get_identity(session, principal, identity_id))}


@router.patch("/api/v1/identities/{identity_id}", summary="Update an identity (isActive=false disables it)")
def update_identity(
    identity_id: str,
    body: IdentityUpdateIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view = service.update_identity(session, principal, identity_id, body, now=context.clock.now(), ctx=ctx)
    return {"identity": identity_wire(view)}


@router.delete("/api/v1/identities/{identity_id}", summary="Delete an identity and revoke its tokens")
def delete_identity(
    identity_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view = service.delete_identity(session, principal, identity_id, now=context.clock.now(), ctx=ctx)
    return {"identity": identity_wire(view)}
