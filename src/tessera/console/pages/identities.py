"""Organisation settings → access control → identities: list, create, view, edit, disable, delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tessera.api.deps import SessionDep
from tessera.audit import service as audit
from tessera.auth import token_service
from tessera.auth.token_uses import pending_where
from tessera.auth.universal import service as universal
from tessera.auth.universal.schemas import UniversalAuthAttachIn
from tessera.console.charts import bar_chart_svg, daily_counts
from tessera.console.forms import FORM_ERROR, pydantic_errors, service_errors
from tessera.console.pages.auth_methods import method_panels
from tessera.console.pages.common import confirm_page, org_role_choices, refuse_delegate
from tessera.console.pages.project_access import role_names
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
from tessera.identities.models import IdentityAccessToken
from tessera.identities.schemas import IdentityCreateIn, IdentityUpdateIn
from tessera.rbac import memberships

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

NAV = "org-settings"
LIST_URL = "/organization/access-control/identities"
USAGE_DAYS = 30
USAGE_EVENT_LIMIT = 5000


@router.get("/organization/settings")
@router.get("/organization/access-control")
def org_settings(viewer: ViewerDep) -> Response:
    return redirect(LIST_URL)


@router.get(LIST_URL)
def identity_list(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    views, _total = identities.list_identities(session, viewer.principal, viewer.principal.org_id, limit=100)
    delegate = find_delegate(session, viewer.principal.org_id)
    return render(
        request,
        "identities.html",
        nav=NAV,
        tab="identities",
        identities=[v for v in views if v.identity.id != delegate],
    )


@router.get(LIST_URL + "/new")
def identity_form(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    return render(
        request,
        "identity_new.html",
        nav=NAV,
        values={"role": "no-access"},
        roles=org_role_choices(session, viewer),
    )


@router.post(LIST_URL + "/new")
def identity_create(request: Request, form: FormDep, session: SessionDep, viewer: ViewerDep) -> Response:
    """Create the identity with its org role and, as the default method, Universal Auth."""
    values = {"name": text(form, "name"), "role": text(form, "role")}
    try:
        body = IdentityCreateIn.model_validate({**values, "organizationId": viewer.principal.org_id})
        with attempt(session, viewer.ctx, viewer.now):
            view = identities.create_identity(session, viewer.principal, body, now=viewer.now, ctx=viewer.ctx)
            universal.attach(
                session,
                viewer.principal,
                view.identity.id,
                UniversalAuthAttachIn(),
                now=viewer.now,
                ctx=viewer.ctx,
            )
    except (ValidationError, TesseraError) as exc:
        errors = pydantic_errors(exc) if isinstance(exc, ValidationError) else service_errors(exc)
        if "role" not in errors and FORM_ERROR in errors and "role" in errors[FORM_ERROR].lower():
            errors["role"] = errors.pop(FORM_ERROR)
        return render(
            request,
            "identity_new.html",
            status=422 if isinstance(exc, ValidationError) else exc.status_code,
            nav=NAV,
            values=values,
            errors=errors,
            roles=org_role_choices(session, viewer),
        )
    audit_action(session, viewer, "identity.create", identity_id=view.identity.id, role=values["role"])
    return redirect(f"/identities/{view.identity.id}?notice=created")


def _usage(session: Session, viewer: Viewer, identity_id: str) -> dict[str, Any]:
    """Logins over the last days (from the audit trail) and the identity's token use counts."""
    since = viewer.now - timedelta(days=USAGE_DAYS)
    logins = audit.list_events(
        session,
        org_id=viewer.principal.org_id,
        identity_id=identity_id,
        event="login",
        outcome="success",
        since=since,
        limit=USAGE_EVENT_LIMIT,
    )
    counts = daily_counts((event.created_at for event in logins), now=viewer.now, days=USAGE_DAYS)
    totals = session.execute(
        select(
            func.count(IdentityAccessToken.id), func.coalesce(func.sum(IdentityAccessToken.num_uses), 0)
        ).where(IdentityAccessToken.identity_id == identity_id)
    ).one()
    pending, _ = pending_where(session, IdentityAccessToken.identity_id == identity_id)
    return {
        "logins_30d": counts.total,
        "tokens_issued": int(totals[0]),
        "token_uses": int(totals[1]) + pending,
        "chart": bar_chart_svg(counts, title=f"Logins per day, last {USAGE_DAYS} days"),
    }


@router.get("/identities/{identity_id}")
def identity_detail(request: Request, identity_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    view = identities.get_identity(session, viewer.principal, identity_id)
    is_delegate = identity_id == find_delegate(session, viewer.principal.org_id)
    tokens = token_service.list_identity_tokens(
        session, viewer.principal, identity_id, now=viewer.now, offset=0, limit=100
    )
    return render(
        request,
        "identity.html",
        nav=NAV,
        view=view,
        is_delegate=is_delegate,
        methods=method_panels(session, viewer, view),
        tokens=tokens,
        usage=_usage(session, viewer, identity_id),
        projects=[
            {"view": m, "roles": role_names(m)}
            for m in memberships.identity_memberships(session, viewer.principal, identity_id)
        ],
    )


@router.get("/identities/{identity_id}/edit")
def identity_edit_form(
    request: Request, identity_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    refuse_delegate(session, viewer, identity_id)
    view = identities.get_identity(session, viewer.principal, identity_id)
    role = view.custom_role.slug if view.custom_role else view.membership.role
    values = {
        "name": view.identity.name,
        "role": role,
        "isActive": view.identity.is_active,
        "hasDeleteProtection": view.identity.has_delete_protection,
    }
    return render(
        request,
        "identity_edit.html",
        nav=NAV,
        view=view,
        values=values,
        roles=org_role_choices(session, viewer),
    )


@router.post("/identities/{identity_id}/edit")
def identity_edit(
    request: Request, identity_id: str, form: FormDep, session: SessionDep, viewer: ViewerDep
) -> Response:
    refuse_delegate(session, viewer, identity_id)
    values: dict[str, Any] = {
        "name": text(form, "name"),
        "role": text(form, "role"),
        # An unticked box is absent from the form: absent means false here, since the form shows all.
        "isActive": form.get("isActive") == "true",
        "hasDeleteProtection": form.get("hasDeleteProtection") == "true",
    }
    try:
        body = IdentityUpdateIn.model_validate(values)
        with attempt(session, viewer.ctx, viewer.now):
            identities.update_identity(
                session, viewer.principal, identity_id, body, now=viewer.now, ctx=viewer.ctx
            )
    except (ValidationError, TesseraError) as exc:
        view = identities.get_identity(session, viewer.principal, identity_id)
        errors = pydantic_errors(exc) if isinstance(exc, ValidationError) else service_errors(exc)
        return render(
            request,
            "identity_edit.html",
            status=422 if isinstance(exc, ValidationError) else exc.status_code,
            nav=NAV,
            view=view,
            values=values,
            errors=errors,
            roles=org_role_choices(session, viewer),
        )
    audit_action(
        session, viewer, "identity.update", identity_id=identity_id, fields=sorted(body.model_fields_set)
    )
    return redirect(f"/identities/{identity_id}?notice=saved")


@router.get("/identities/{identity_id}/delete")
def identity_delete_confirm(
    request: Request, identity_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    refuse_delegate(session, viewer, identity_id)
    view = identities.get_identity(session, viewer.principal, identity_id)
    return confirm_page(
        request,
        title=f"Delete identity “{view.identity.name}”?",
        message="Its auth methods, credentials and project memberships are removed, and every token it holds "
        "stops working at once. This cannot be undone.",
        action=f"/identities/{identity_id}/delete",
        button="Delete identity",
        cancel=f"/identities/{identity_id}",
        nav=NAV,
    )


@router.post("/identities/{identity_id}/delete")
def identity_delete(request: Request, identity_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    refuse_delegate(session, viewer, identity_id)
    identities.delete_identity(session, viewer.principal, identity_id, now=viewer.now, ctx=viewer.ctx)
    audit_action(session, viewer, "identity.delete", identity_id=identity_id)
    return redirect(LIST_URL + "?notice=deleted", request=request)
