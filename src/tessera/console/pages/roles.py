"""Organisation and project roles: built-in roles to read, custom roles to create, edit and delete,
with a permission editor for subjects, actions, and environment and secret-path globs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tessera.api.deps import SessionDep
from tessera.console.forms import pydantic_errors
from tessera.console.pages.common import confirm_page
from tessera.console.permission_editor import (
    RuleRow,
    row_errors,
    rows_from_form,
    rows_from_rules,
    rules_from_rows,
)
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
from tessera.errors import TesseraError, ValidationFailure
from tessera.projects.models import Project
from tessera.rbac import custom_roles
from tessera.rbac.models import OrgRole, ProjectRole
from tessera.rbac.permissions import CONDITION_FIELDS, ORG_SUBJECTS, PROJECT_SUBJECTS
from tessera.rbac.roles import BuiltinRole
from tessera.rbac.schemas import RoleCreateIn, RoleUpdateIn

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

BLANK_ROWS = 2
MAX_ROWS = 200


@dataclass(frozen=True, slots=True)
class Scope:
    """Where roles live: the organisation, or one project."""

    kind: str  # "org" | "project"
    base: str
    nav: str
    project: Project | None = None

    @property
    def subjects(self) -> dict[str, tuple[str, ...]]:
        return ORG_SUBJECTS if self.kind == "org" else PROJECT_SUBJECTS


ORG_BASE = "/organization/access-control/roles"


def _org_scope() -> Scope:
    return Scope("org", ORG_BASE, "org-settings")


def _project_scope(session: Session, viewer: Viewer, project_id: str) -> Scope:
    project = custom_roles.find_project(session, viewer.principal, project_id)
    return Scope("project", f"/projects/{project_id}/roles", "projects", project)


def _list(session: Session, viewer: Viewer, scope: Scope) -> tuple[list[BuiltinRole], list[Any]]:
    if scope.project is None:
        builtins, org_customs = custom_roles.list_org_roles(
            session, viewer.principal, viewer.principal.org_id
        )
        return builtins, list(org_customs)
    builtins, project_customs = custom_roles.list_project_roles(session, viewer.principal, scope.project)
    return builtins, list(project_customs)


def _get(session: Session, viewer: Viewer, scope: Scope, role_id: str) -> BuiltinRole | OrgRole | ProjectRole:
    if scope.project is None:
        return custom_roles.get_org_role(session, viewer.principal, viewer.principal.org_id, role_id)
    return custom_roles.get_project_role(session, viewer.principal, scope.project, role_id=role_id)


def _editor(
    request: Request, scope: Scope, *, role: Any, values: dict[str, Any], rows: list[RuleRow], **extra: Any
) -> Response:
    shown = rows + [RuleRow() for _ in range(BLANK_ROWS)]
    return render(
        request,
        "role_edit.html",
        nav=scope.nav,
        scope=scope,
        project=scope.project,
        tab="roles",
        role=role,
        values=values,
        rows=shown[:MAX_ROWS],
        subjects=scope.subjects,
        condition_fields=CONDITION_FIELDS,
        all_actions=sorted({action for actions in scope.subjects.values() for action in actions}),
        **extra,
    )


def _read_editor(form: FormData) -> tuple[dict[str, Any], list[RuleRow]]:
    values = {name: text(form, name) for name in ("name", "slug", "description")}
    try:
        count = min(int(text(form, "rule_count") or 0), MAX_ROWS)
    except ValueError:
        count = 0
    rows = [row for row in rows_from_form(form, count) if not row.is_blank]
    return values, rows


def _save(
    session: Session,
    viewer: Viewer,
    scope: Scope,
    role_id: str | None,
    values: dict[str, Any],
    rows: list[RuleRow],
) -> tuple[Any, dict[str, str]]:
    """Create or update the role through the roles service; returns (role, field errors)."""
    rules, origin = rules_from_rows(rows)
    payload = {**values, "description": values["description"] or None, "permissions": rules}
    role: OrgRole | ProjectRole
    try:
        with attempt(session, viewer.ctx, viewer.now):
            if role_id is None:
                body = RoleCreateIn.model_validate(payload)
                if scope.project is None:
                    role = custom_roles.create_org_role(
                        session,
                        viewer.principal,
                        viewer.principal.org_id,
                        body,
                        now=viewer.now,
                        ctx=viewer.ctx,
                    )
                else:
                    role = custom_roles.create_project_role(
                        session, viewer.principal, scope.project, body, now=viewer.now, ctx=viewer.ctx
                    )
            else:
                patch = RoleUpdateIn.model_validate(payload)
                if scope.project is None:
                    role = custom_roles.update_org_role(
                        session,
                        viewer.principal,
                        viewer.principal.org_id,
                        role_id,
                        patch,
                        now=viewer.now,
                        ctx=viewer.ctx,
                    )
                else:
                    role = custom_roles.update_project_role(
                        session,
                        viewer.principal,
                        scope.project,
                        role_id,
                        patch,
                        now=viewer.now,
                        ctx=viewer.ctx,
                    )
    except ValidationError as exc:
        return None, pydantic_errors(exc)
    except ValidationFailure as exc:
        if exc.field.startswith("permissions"):
            return None, row_errors(exc.field, exc.message, origin)
        return None, {exc.field: exc.message}
    except TesseraError as exc:
        return None, {"_form": exc.message}
    return role, {}


# --- pages, for both scopes -------------------------------------------------------------------


def role_list(request: Request, session: Session, viewer: Viewer, scope: Scope) -> Response:
    builtins, customs = _list(session, viewer, scope)
    return render(
        request,
        "roles.html",
        nav=scope.nav,
        scope=scope,
        project=scope.project,
        tab="roles",
        builtins=builtins,
        customs=customs,
    )


def role_new(request: Request, scope: Scope) -> Response:
    return _editor(request, scope, role=None, values={}, rows=[])


def role_create(request: Request, form: FormData, session: Session, viewer: Viewer, scope: Scope) -> Response:
    values, rows = _read_editor(form)
    if form.get("add_row"):
        return _editor(request, scope, role=None, values=values, rows=[*rows, RuleRow()])
    role, errors = _save(session, viewer, scope, None, values, rows)
    if errors:
        return _editor(request, scope, role=None, values=values, rows=rows, errors=errors, status=422)
    audit_action(session, viewer, f"{scope.kind}_role.create", roleId=role.id, slug=role.slug)
    return redirect(f"{scope.base}/{role.id}?notice=created")


def role_show(request: Request, session: Session, viewer: Viewer, scope: Scope, role_id: str) -> Response:
    role = _get(session, viewer, scope, role_id)
    if isinstance(role, BuiltinRole):
        return render(
            request,
            "role_builtin.html",
            nav=scope.nav,
            scope=scope,
            project=scope.project,
            tab="roles",
            role=role,
            rows=rows_from_rules(list(role.wire_rules)),
        )
    values = {"name": role.name, "slug": role.slug, "description": role.description or ""}
    return _editor(request, scope, role=role, values=values, rows=rows_from_rules(role.permissions))


def role_update(
    request: Request, form: FormData, session: Session, viewer: Viewer, scope: Scope, role_id: str
) -> Response:
    role = _get(session, viewer, scope, role_id)
    values, rows = _read_editor(form)
    if form.get("add_row"):
        return _editor(request, scope, role=role, values=values, rows=[*rows, RuleRow()])
    saved, errors = _save(session, viewer, scope, role_id, values, rows)
    if errors:
        return _editor(request, scope, role=role, values=values, rows=rows, errors=errors, status=422)
    audit_action(session, viewer, f"{scope.kind}_role.update", roleId=role_id, slug=saved.slug)
    return redirect(f"{scope.base}/{role_id}?notice=saved")


def role_delete_confirm(
    request: Request, session: Session, viewer: Viewer, scope: Scope, role_id: str
) -> Response:
    role = _get(session, viewer, scope, role_id)
    return confirm_page(
        request,
        title=f"Delete role “{role.name}”?",
        message="The role can only be deleted when no identity holds it.",
        action=f"{scope.base}/{role_id}/delete",
        button="Delete role",
        cancel=f"{scope.base}/{role_id}",
        nav=scope.nav,
    )


def role_delete(request: Request, session: Session, viewer: Viewer, scope: Scope, role_id: str) -> Response:
    if scope.project is None:
        custom_roles.delete_org_role(
            session, viewer.principal, viewer.principal.org_id, role_id, now=viewer.now, ctx=viewer.ctx
        )
    else:
        custom_roles.delete_project_role(
            session, viewer.principal, scope.project, role_id, now=viewer.now, ctx=viewer.ctx
        )
    audit_action(session, viewer, f"{scope.kind}_role.delete", roleId=role_id)
    return redirect(f"{scope.base}?notice=deleted", request=request)


# --- routes --------------------------------------------------------------------------------------


@router.get(ORG_BASE)
def org_roles(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    return role_list(request, session, viewer, _org_scope())


@router.get(ORG_BASE + "/new")
def org_role_new(request: Request, viewer: ViewerDep) -> Response:
    return role_new(request, _org_scope())


@router.post(ORG_BASE + "/new")
def org_role_create(request: Request, form: FormDep, session: SessionDep, viewer: ViewerDep) -> Response:
    return role_create(request, form, session, viewer, _org_scope())


@router.get(ORG_BASE + "/{role_id}")
def org_role_show(request: Request, role_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    return role_show(request, session, viewer, _org_scope(), role_id)


@router.post(ORG_BASE + "/{role_id}")
def org_role_update(
    request: Request, role_id: str, form: FormDep, session: SessionDep, viewer: ViewerDep
) -> Response:
    return role_update(request, form, session, viewer, _org_scope(), role_id)


@router.get(ORG_BASE + "/{role_id}/delete")
def org_role_delete_confirm(
    request: Request, role_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    return role_delete_confirm(request, session, viewer, _org_scope(), role_id)


@router.post(ORG_BASE + "/{role_id}/delete")
def org_role_delete(request: Request, role_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    return role_delete(request, session, viewer, _org_scope(), role_id)


@router.get("/projects/{project_id}/roles")
def project_roles(request: Request, project_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    return role_list(request, session, viewer, _project_scope(session, viewer, project_id))


@router.get("/projects/{project_id}/roles/new")
def project_role_new(request: Request, project_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    return role_new(request, _project_scope(session, viewer, project_id))


@router.post("/projects/{project_id}/roles/new")
def project_role_create(
    request: Request, project_id: str, form: FormDep, session: SessionDep, viewer: ViewerDep
) -> Response:
    return role_create(request, form, session, viewer, _project_scope(session, viewer, project_id))


@router.get("/projects/{project_id}/roles/{role_id}")
def project_role_show(
    request: Request, project_id: str, role_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    return role_show(request, session, viewer, _project_scope(session, viewer, project_id), role_id)


@router.post("/projects/{project_id}/roles/{role_id}")
def project_role_update(
    request: Request, project_id: str, role_id: str, form: FormDep, session: SessionDep, viewer: ViewerDep
) -> Response:
    return role_update(request, form, session, viewer, _project_scope(session, viewer, project_id), role_id)


@router.get("/projects/{project_id}/roles/{role_id}/delete")
def project_role_delete_confirm(
    request: Request, project_id: str, role_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    return role_delete_confirm(request, session, viewer, _project_scope(session, viewer, project_id), role_id)


@router.post("/projects/{project_id}/roles/{role_id}/delete")
def project_role_delete(
    request: Request, project_id: str, role_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    return role_delete(request, session, viewer, _project_scope(session, viewer, project_id), role_id)
