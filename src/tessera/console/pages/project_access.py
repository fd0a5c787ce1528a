"""Project settings → access control → machine identities: add with a project role, change it, remove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tessera.api.deps import SessionDep
from tessera.console.forms import FORM_ERROR, pydantic_errors, service_errors
from tessera.console.pages.common import confirm_page
from tessera.console.principal import find_delegate
from tessera.console.web import (
    ConsoleRoute,
    FormDep,
    Viewer,
    ViewerDep,
    attempt,
    audit_action,
    redirect,
    render,
    text,
)
from tessera.errors import TesseraError
from tessera.identities import service as identities
from tessera.projects.models import Project
from tessera.rbac import custom_roles, memberships
from tessera.rbac.memberships import MembershipView
from tessera.rbac.roles import CUSTOM
from tessera.rbac.schemas import MembershipCreateIn, MembershipUpdateIn

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
NAV = "projects"


def _base(project_id: str) -> str:
    return f"/projects/{project_id}/access-control/identities"


def project_role_choices(session: Session, viewer: Viewer, project: Project) -> list[tuple[str, str]]:
    builtins, customs = custom_roles.list_project_roles(session, viewer.principal, project)
    return [(r.slug, r.name) for r in builtins] + [(r.slug, f"{r.name} (custom)") for r in customs]


def role_names(view: MembershipView) -> list[dict[str, Any]]:
    """Each role of a membership as shown: its slug or custom name, and its end time if temporary."""
    shown = []
    for row in view.roles:
        custom = view.custom_roles.get(row.custom_role_id) if row.custom_role_id else None
        shown.append(
            {
                "slug": custom.slug if row.role == CUSTOM and custom else row.role,
                "name": custom.name if row.role == CUSTOM and custom else row.role,
                "until": row.temporary_access_end_time if row.is_temporary else None,
            }
        )
    return shown


def _role_spec(role: str, temporary: str, viewer: Viewer) -> dict[str, Any]:
    """A role as the membership schema takes it; a duration (e.g. 8h, 7d) makes it temporary from now."""
    if not temporary:
        return {"role": role}
    return {
        "role": role,
        "isTemporary": True,
        "temporaryMode": "relative",
        "temporaryRange": temporary,
        "temporaryAccessStartTime": viewer.now.isoformat(),
    }


def _spec_errors(exc: ValidationError | TesseraError) -> dict[str, str]:
    errors = pydantic_errors(exc) if isinstance(exc, ValidationError) else service_errors(exc)
    # The role list is one field of the schema; in the form it is the role and the duration.
    if "roles" in errors:
        message = errors.pop("roles")
        errors["temporary" if "emporary" in message else "role"] = message
    if FORM_ERROR in errors and "role" in errors[FORM_ERROR].lower():
        errors["role"] = errors.pop(FORM_ERROR)
    return errors


@router.get("/projects/{project_id}/access-control")
def access_control(project_id: str, viewer: ViewerDep) -> Response:
    return redirect(_base(project_id))


@router.get("/projects/{project_id}/access-control/identities")
def membership_list(request: Request, project_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    views, _total = memberships.list_memberships(session, viewer.principal, project_id, limit=100)
    project = custom_roles.find_project(session, viewer.principal, project_id)
    return render(
        request,
        "project_identities.html",
        nav=NAV,
        tab="access",
        project=project,
        members=[{"view": v, "roles": role_names(v)} for v in views],
    )


def _candidates(session: Session, viewer: Viewer, project_id: str) -> list[tuple[str, str]]:
    """Identities of the organisation not yet in the project (the console's delegate left out)."""
    views, _total = identities.list_identities(session, viewer.principal, viewer.principal.org_id, limit=100)
    members, _count = memberships.list_memberships(session, viewer.principal, project_id, limit=1000)
    taken = {m.identity.id for m in members} | {find_delegate(session, viewer.principal.org_id)}
    return [(v.identity.id, v.identity.name) for v in views if v.identity.id not in taken]


def _add_page(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    project: Project,
    values: dict[str, str],
    **extra: Any,
) -> Response:
    return render(
        request,
        "project_identity_add.html",
        nav=NAV,
        tab="access",
        project=project,
        values=values,
        candidates=_candidates(session, viewer, project.id),
        roles=project_role_choices(session, viewer, project),
        **extra,
    )


@router.get("/projects/{project_id}/access-control/identities/add")
def membership_form(request: Request, project_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    project = custom_roles.find_project(session, viewer.principal, project_id)
    return _add_page(request, session, viewer, project, {"role": "no-access"})


@router.post("/projects/{project_id}/access-control/identities/add")
def membership_add(
    request: Request, project_id: str, form: FormDep, session: SessionDep, viewer: ViewerDep
) -> Response:
    project = custom_roles.find_project(session, viewer.principal, project_id)
    values = {name: text(form, name) for name in ("identityId", "role", "temporary")}
    if not values["identityId"]:
        return _add_page(
            request,
            session,
            viewer,
            project,
            values,
            status=422,
            errors={"identityId": "Choose an identity."},
        )
    try:
        body = MembershipCreateIn.model_validate(
            {"roles": [_role_spec(values["role"], values["temporary"], viewer)]}
        )
        with attempt(session, viewer.ctx, viewer.now):
            memberships.add_membership(
                session,
                viewer.principal,
                project_id,
                values["identityId"],
                body,
                now=viewer.now,
                ctx=viewer.ctx,
            )
    except (ValidationError, TesseraError) as exc:
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return _add_page(request, session, viewer, project, values, status=status, errors=_spec_errors(exc))
    audit_action(
        session,
        viewer,
        "project_membership.add",
        identity_id=values["identityId"],
        projectId=project_id,
        role=values["role"],
    )
    return redirect(_base(project_id) + "?notice=created")


@router.get("/projects/{project_id}/access-control/identities/{identity_id}/role")
def membership_role_form(
    request: Request, project_id: str, identity_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    view = memberships.get_membership(session, viewer.principal, project_id, identity_id)
    current = role_names(view)
    return render(
        request,
        "project_identity_role.html",
        nav=NAV,
        tab="access",
        project=view.project,
        member=view,
        values={"role": current[0]["slug"] if current else "no-access", "temporary": ""},
        roles=project_role_choices(session, viewer, view.project),
    )


@router.post("/projects/{project_id}/access-control/identities/{identity_id}/role")
def membership_role(
    request: Request, project_id: str, identity_id: str, form: FormDep, session: SessionDep, viewer: ViewerDep
) -> Response:
    values = {name: text(form, name) for name in ("role", "temporary")}
    try:
        body = MembershipUpdateIn.model_validate(
            {"roles": [_role_spec(values["role"], values["temporary"], viewer)]}
        )
        with attempt(session, viewer.ctx, viewer.now):
            memberships.update_membership(
                session, viewer.principal, project_id, identity_id, body, now=viewer.now, ctx=viewer.ctx
            )
    except (ValidationError, TesseraError) as exc:
        view = memberships.get_membership(session, viewer.principal, project_id, identity_id)
        return render(
            request,
            "project_identity_role.html",
            status=422 if isinstance(exc, ValidationError) else exc.status_code,
            nav=NAV,
            tab="access",
            project=view.project,
            member=view,
            values=values,
            errors=_spec_errors(exc),
            roles=project_role_choices(session, viewer, view.project),
        )
    audit_action(
        session,
        viewer,
        "project_membership.update",
        identity_id=identity_id,
        projectId=project_id,
        role=values["role"],
    )
    return redirect(_base(project_id) + "?notice=saved")


@router.get("/projects/{project_id}/access-control/identities/{identity_id}/remove")
def membership_remove_confirm(
    request: Request, project_id: str, identity_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    view = memberships.get_membership(session, viewer.principal, project_id, identity_id)
    return confirm_page(
        request,
        title=f"Remove “{view.identity.name}” from {view.project.name}?",
        message="The identity loses every project role here at once; "
        "its tokens stay valid for other projects.",
        action=f"{_base(project_id)}/{identity_id}/remove",
        button="Remove from project",
        cancel=_base(project_id),
        nav=NAV,
    )


@router.post("/projects/{project_id}/access-control/identities/{identity_id}/remove")
def membership_remove(
    request: Request, project_id: str, identity_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    memberships.delete_membership(
        session, viewer.principal, project_id, identity_id, now=viewer.now, ctx=viewer.ctx
    )
    audit_action(session, viewer, "project_membership.remove", identity_id=identity_id, projectId=project_id)
    return redirect(_base(project_id) + "?notice=removed", request=request)
