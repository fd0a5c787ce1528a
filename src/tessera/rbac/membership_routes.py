"""Project identity membership routes: the v2 `workspace` form and the v1 `projects` form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from tessera.api.deps import ContextDep, PrincipalDep, RequestCtxDep, SessionDep
from tessera.clock import iso_js
from tessera.rbac import memberships as service
from tessera.rbac.models import IdentityProjectMembershipRole
from tessera.rbac.schemas import MembershipCreateIn, MembershipUpdateIn

router = APIRouter(tags=["project identity memberships"])

V2 = "/api/v2/workspace/{project_id}/identity-memberships"
V1 = "/api/v1/projects/{project_id}/memberships/identities"


def role_wire(row: IdentityProjectMembershipRole, view: service.MembershipView) -> dict[str, Any]:
    custom = view.custom_roles.get(row.custom_role_id) if row.custom_role_id else None
    return {
        "id": row.id,
        "role": row.role,
        "customRoleId": row.custom_role_id,
        "customRoleName": custom.name if custom else None,
        "customRoleSlug": custom.slug if custom else None,
        "isTemporary": row.is_temporary,
        "temporaryMode": row.temporary_mode,
        "temporaryRange": row.temporary_range,
        "temporaryAccessStartTime": iso_js(row.temporary_access_start_time),
        "temporaryAccessEndTime": iso_js(row.temporary_access_end_time),
        "createdAt": iso_js(row.created_at),
        "updatedAt": iso_js(row.updated_at),
    }


def membership_short(view: service.MembershipView) -> dict[str, Any]:
    membership = view.membership
    return {
        "id": membership.id,
        "projectId": membership.project_id,
        "identityId": membership.identity_id,
        "createdAt": iso_js(membership.created_at),
        "updatedAt": iso_js(membership.updated_at),
    }


def membership_wire(view: service.MembershipView) -> dict[str, Any]:
    identity, org = view.identity, view.org_membership
    return {
        **membership_short(view),
        "roles": [role_wire(row, view) for row in view.roles],
        "identity": {
            "id": identity.id,
            "name": identity.name,
            "hasDeleteProtection": identity.has_delete_protection,
            "authMethods": view.auth_methods,
            "isActive": identity.is_active,
        },
        "project": {
            "id": view.project.id,
            "name": view.project.name,
            "slug": view.project.slug,
            "type": view.project.type,
        },
        "lastLoginAuthMethod": org.last_login_auth_method if org else None,
        "lastLoginTime": iso_js(org.last_login_time) if org else None,
    }


def _add(
    project_id: str,
    identity_id: str,
    body: MembershipCreateIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view = service.add_membership(
        session, principal, project_id, identity_id, body, now=context.clock.now(), ctx=ctx
    )
    return {"identityMembership": membership_short(view)}


def _remove(
    project_id: str,
    identity_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view = service.delete_membership(
        session, principal, project_id, identity_id, now=context.clock.now(), ctx=ctx
    )
    return {"identityMembership": membership_short(view)}


def _get(project_id: str, identity_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {
        "identityMembership": membership_wire(
            service.get_membership(session, principal, project_id, identity_id)
        )
    }


for _prefix in (V2, V1):
    router.add_api_route(
        f"{_prefix}/{{identity_id}}", _add, methods=["POST"], summary="Add an identity to a project"
    )
    router.add_api_route(
        f"{_prefix}/{{identity_id}}", _remove, methods=["DELETE"], summary="Remove an identity from a project"
    )
    router.add_api_route(
        f"{_prefix}/{{identity_id}}", _get, methods=["GET"], summary="Get a project membership"
    )


@router.patch(f"{V2}/{{identity_id}}", summary="Replace an identity's project roles")
def update_v2(
    project_id: str,
    identity_id: str,
    body: MembershipUpdateIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view = service.update_membership(
        session, principal, project_id, identity_id, body, now=context.clock.now(), ctx=ctx
    )
    return {"roles": [role_wire(row, view) for row in view.roles]}


@router.patch(f"{V1}/{{identity_id}}", summary="Replace an identity's project roles")
def update_v1(
    project_id: str,
    identity_id: str,
    body: MembershipUpdateIn,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    ctx: RequestCtxDep,
) -> dict[str, Any]:
    view = service.update_membership(
        session, principal, project_id, identity_id, body, now=context.clock.now(), ctx=ctx
    )
    return {"identityMembership": membership_wire(view)}


@router.get(V2, summary="List a project's identity memberships")
def list_v2(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=20000),
) -> dict[str, Any]:
    views, total = service.list_memberships(session, principal, project_id, offset=offset, limit=limit)
    return {"identityMemberships": [membership_wire(v) for v in views], "totalCount": total}


@router.get(V1, summary="List a project's identity memberships")
def list_v1(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    offset: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=1000),
    identity_name: str | None = Query(None, alias="identityName", max_length=255),
    roles: str | None = Query(None, description="Comma-separated role slugs."),
) -> dict[str, Any]:
    wanted = [r.strip() for r in roles.split(",") if r.strip()] if roles else []
    views, total = service.list_memberships(
        session, principal, project_id, offset=offset, limit=limit, identity_name=identity_name, roles=wanted
    )
    return {"identityMemberships": [membership_wire(v) for v in views], "totalCount": total}


@router.get(
    "/api/v1/identities/{identity_id}/identity-memberships", summary="An identity's project memberships"
)
def identity_project_memberships(
    identity_id: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    views = service.identity_memberships(session, principal, identity_id)
    return {"identityMemberships": [membership_wire(v) for v in views]}
