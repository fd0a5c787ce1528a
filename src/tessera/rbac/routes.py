"""Role routes (organisation and project, custom and built-in) and the permission explainer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from tessera.api.deps import ContextDep, PrincipalDep, RequestCtxDep, SessionDep
from tessera.errors import PermissionDenied
from tessera.projects.models import Project
from tessera.rbac import custom_roles as roles_service
from tessera.rbac import explain as explain_service
from tessera.rbac.models import OrgRole, ProjectRole
from tessera.rbac.roles import BuiltinRole
from tessera.rbac.schemas import (
    RoleCreateIn,
    RoleUpdateIn,
    builtin_role_wire,
    org_role_wire,
    project_role_wire,
)

router = APIRouter(tags=["roles"])


def _org_role(role: BuiltinRole | OrgRole, org_id: str) -> dict[str, Any]:
    if isinstance(role, BuiltinRole):
        return builtin_role_wire(role, owner_key="orgId", owner_id=org_id)
    return org_role_wire(role)


def _project_role(role: BuiltinRole | ProjectRole, project_id: str) -> dict[str, Any]:
    if isinstance(role, BuiltinRole):
        return builtin_role_wire(role, owner_key="projectId", owner_id=project_id)
    return project_role_wire(role)


# --- organisation roles (both the singular and the plural prefix are in use) -------------------

for _org_prefix in ("/api/v1/organization/{org_id}", "/api/v1/organizations/{org_id}"):

    @router.get(f"{_org_prefix}/roles", summary="List organisation roles (built-in and custom)")
    def list_org_roles(org_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
        builtins, customs = roles_service.list_org_roles(session, principal, org_id)
        roles = [_org_role(r, org_id) for r in builtins] + [org_role_wire(r) for r in customs]
        return {"data": {"roles": roles}}

    @router.post(f"{_org_prefix}/roles", summary="Create a custom organisation role")
    def create_org_role(
        org_id: str,
        body: RoleCreateIn,
        session: SessionDep,
        principal: PrincipalDep,
        context: ContextDep,
        ctx: RequestCtxDep,
    ) -> dict[str, Any]:
        role = roles_service.create_org_role(
            session, principal, org_id, body, now=context.clock.now(), ctx=ctx
        )
        return {"role": org_role_wire(role)}

    @router.get(f"{_org_prefix}/roles/{{role_id}}", summary="Get an organisation role")
    def get_org_role(
        org_id: str, role_id: str, session: SessionDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        return {"role": _org_role(roles_service.get_org_role(session, principal, org_id, role_id), org_id)}

    @router.patch(f"{_org_prefix}/roles/{{role_id}}", summary="Update a custom organisation role")
    def update_org_role(
        org_id: str,
        role_id: str,
        body: RoleUpdateIn,
        session: SessionDep,
        principal: PrincipalDep,
        context: ContextDep,
        ctx: RequestCtxDep,
    ) -> dict[str, Any]:
        role = roles_service.update_org_role(
            session, principal, org_id, role_id, body, now=context.clock.now(), ctx=ctx
        )
        return {"role": org_role_wire(role)}

    @router.delete(f"{_org_prefix}/roles/{{role_id}}", summary="Delete an unused custom organisation role")
    def delete_org_role(
        org_id: str,
        role_id: str,
        session: SessionDep,
        principal: PrincipalDep,
        context: ContextDep,
        ctx: RequestCtxDep,
    ) -> dict[str, Any]:
        role = roles_service.delete_org_role(
            session, principal, org_id, role_id, now=context.clock.now(), ctx=ctx
        )
        return {"role": org_role_wire(role)}

    @router.get(f"{_org_prefix}/permissions/explain", summary="Why an identity may or may not do something")
    def explain_org(
        org_id: str,
        session: SessionDep,
        principal: PrincipalDep,
        action: str = Query(min_length=1, max_length=64),
        subject: str = Query(min_length=1, max_length=64),
        identity_id: str | None = Query(
            None, alias="identityId", description="Whose permissions; default: yours."
        ),
        subject_identity_id: str | None = Query(
            None,
            alias="subjectIdentityId",
            description="The `identityId` condition field of the checked identity.",
        ),
    ) -> dict[str, Any]:
        if org_id != principal.org_id:
            raise PermissionDenied(
                "You are not allowed to grant-privileges on identity", reason="foreign_org"
            )
        answer = explain_service.explain_org(
            session,
            principal,
            identity_id=identity_id,
            action=action,
            subject=subject,
            fields={"identityId": subject_identity_id},
        )
        return _explanation_wire(answer)


def _explanation_wire(answer: explain_service.Explanation) -> dict[str, Any]:
    decision = answer.decision.to_wire()
    return {
        "allowed": decision["allowed"],
        "reason": decision["reason"],
        "identityId": answer.identity_id,
        "request": {"action": answer.action, "subject": answer.subject, "fields": answer.fields},
        "decidingAction": decision["action"],
        "decidingRule": decision["decidingRule"],
    }


# --- project roles -----------------------------------------------------------------------------


def _project_roles_routes(prefix: str, by_slug: bool) -> None:
    """Register the project role routes under `prefix`, the project named by id or by slug."""

    def project_of(session: SessionDep, principal: PrincipalDep, ref: str) -> Project:
        if by_slug:
            return roles_service.find_project_by_slug(session, principal, ref)
        return roles_service.find_project(session, principal, ref)

    @router.get(f"{prefix}/roles", summary="List project roles (built-in and custom)")
    def list_project_roles(project_ref: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
        project = project_of(session, principal, project_ref)
        builtins, customs = roles_service.list_project_roles(session, principal, project)
        return {
            "roles": [_project_role(r, project.id) for r in builtins]
            + [project_role_wire(r) for r in customs]
        }

    @router.post(f"{prefix}/roles", summary="Create a custom project role")
    def create_project_role(
        project_ref: str,
        body: RoleCreateIn,
        session: SessionDep,
        principal: PrincipalDep,
        context: ContextDep,
        ctx: RequestCtxDep,
    ) -> dict[str, Any]:
        project = project_of(session, principal, project_ref)
        role = roles_service.create_project_role(
            session, principal, project, body, now=context.clock.now(), ctx=ctx
        )
        return {"role": project_role_wire(role)}

    @router.get(f"{prefix}/roles/slug/{{slug}}", summary="Get a project role by slug")
    def get_project_role_by_slug(
        project_ref: str, slug: str, session: SessionDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        project = project_of(session, principal, project_ref)
        role = roles_service.get_project_role(session, principal, project, slug=slug)
        return {"role": _project_role(role, project.id)}

    @router.get(f"{prefix}/roles/{{role_id}}", summary="Get a project role")
    def get_project_role(
        project_ref: str, role_id: str, session: SessionDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        project = project_of(session, principal, project_ref)
        role = roles_service.get_project_role(session, principal, project, role_id=role_id)
        return {"role": _project_role(role, project.id)}

    @router.patch(f"{prefix}/roles/{{role_id}}", summary="Update a custom project role")
    def update_project_role(
        project_ref: str,
        role_id: str,
        body: RoleUpdateIn,
        session: SessionDep,
        principal: PrincipalDep,
        context: ContextDep,
        ctx: RequestCtxDep,
    ) -> dict[str, Any]:
        project = project_of(session, principal, project_ref)
        role = roles_service.update_project_role(
            session, principal, project, role_id, body, now=context.clock.now(), ctx=ctx
        )
        return {"role": project_role_wire(role)}

    @router.delete(f"{prefix}/roles/{{role_id}}", summary="Delete an unused custom project role")
    def delete_project_role(
        project_ref: str,
        role_id: str,
        session: SessionDep,
        principal: PrincipalDep,
        context: ContextDep,
        ctx: RequestCtxDep,
    ) -> dict[str, Any]:
        project = project_of(session, principal, project_ref)
        role = roles_service.delete_project_role(
            session, principal, project, role_id, now=context.clock.now(), ctx=ctx
        )
        return {"role": project_role_wire(role)}


_project_roles_routes("/api/v1/projects/{project_ref}", by_slug=False)
_project_roles_routes("/api/v1/workspace/{project_ref}", by_slug=True)


@router.get(
    "/api/v1/projects/{project_id}/permissions/explain", summary="Why an identity may or may not do something"
)
def explain_project(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    action: str = Query(min_length=1, max_length=64),
    subject: str = Query(min_length=1, max_length=64),
    environment: str | None = Query(None, max_length=64),
    secret_path: str | None = Query(None, alias="secretPath", max_length=1024),
    secret_name: str | None = Query(None, alias="secretName", max_length=255),
    secret_tags: str | None = Query(None, alias="secretTags", description="Comma-separated tag slugs."),
    identity_id: str | None = Query(
        None, alias="identityId", description="Whose permissions; default: yours."
    ),
    subject_identity_id: str | None = Query(
        None,
        alias="subjectIdentityId",
        description="The `identityId` condition field of the checked identity.",
    ),
) -> dict[str, Any]:
    project = roles_service.find_project(session, principal, project_id)
    tags = [t.strip() for t in secret_tags.split(",") if t.strip()] if secret_tags is not None else None
    answer = explain_service.explain_project(
        session,
        principal,
        project,
        identity_id=identity_id,
        action=action,
        subject=subject,
        fields={
            "environment": environment,
            "secretPath": secret_path,
            "secretName": secret_name,
            "secretTags": tags,
            "identityId": subject_identity_id,
        },
    )
    return _explanation_wire(answer)
