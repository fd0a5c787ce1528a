"""An identity's auth methods: add, edit and remove Universal Auth, Azure Auth and Token Auth.
Every change goes through the method's own service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tessera.api.deps import SessionDep
from tessera.auth.azure import service as azure
from tessera.auth.azure.clouds import Cloud
from tessera.auth.azure.models import DEFAULT_RESOURCE
from tessera.auth.azure.schemas import AzureAuthAttachIn, AzureAuthPatchIn
from tessera.auth.policy import TokenPolicy
from tessera.auth.token import service as token_auth
from tessera.auth.token.schemas import TokenAuthAttachIn, TokenAuthPatchIn
from tessera.auth.universal import service as universal
from tessera.auth.universal.models import (
    DEFAULT_LOCKOUT_COUNTER_RESET,
    DEFAULT_LOCKOUT_DURATION,
    DEFAULT_LOCKOUT_THRESHOLD,
)
from tessera.auth.universal.schemas import UniversalAuthAttachIn, UniversalAuthPatchIn
from tessera.console.formatting import cidrs
from tessera.console.forms import (
    FORM_ERROR,
    lines,
    policy_values,
    pydantic_errors,
    service_errors,
    without_blanks,
)
from tessera.console.pages.common import confirm_page, refuse_delegate
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
from tessera.errors import NotFound, TesseraError
from tessera.identities import service as identities
from tessera.identities.service import IdentityView

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
NAV = "org-settings"

LABELS = {
    "universal-auth": "Universal Auth",
    "azure-auth": "Azure Auth",
    "token-auth": "Token Auth",
    "refresh-token-auth": "Refresh-token credential",
}
EDITABLE = ("universal-auth", "azure-auth", "token-auth")
AZURE_LISTS = (
    "tenantIds",
    "allowedServicePrincipalIds",
    "allowedClientIds",
    "allowedSubscriptionIds",
    "allowedResourceGroups",
    "allowedResourceIds",
)
CLOUD_OPTIONS = [
    ("public", "Azure public cloud"),
    ("usgovernment", "Azure US Government"),
    ("china", "Azure China"),
]
CHECKBOXES = {
    "universal-auth": ("lockoutEnabled",),
    "azure-auth": ("allowAnyPrincipalInTenant", "oneTimeUse"),
}


# --- what the identity page shows -------------------------------------------------------------


def method_panels(session: Session, viewer: Viewer, view: IdentityView) -> list[dict[str, Any]]:
    """One entry per auth method, attached or not, with its configuration when attached."""
    panels = []
    for method in (*EDITABLE, *(m for m in view.auth_methods if m not in EDITABLE)):
        panel: dict[str, Any] = {"method": method, "label": LABELS.get(method, method), "attached": False}
        if method in view.auth_methods:
            panel["attached"] = True
            panel.update(_attached_details(session, viewer, view.identity.id, method))
        panels.append(panel)
    return panels


def _attached_details(session: Session, viewer: Viewer, identity_id: str, method: str) -> dict[str, Any]:
    principal = viewer.principal
    if method == "universal-auth":
        return {
            "config": universal.get_config(session, principal, identity_id),
            "client_secrets": universal.list_client_secrets(session, principal, identity_id),
        }
    if method == "azure-auth":
        return {"config": azure.get(session, principal, identity_id)}
    if method == "token-auth":
        return {"config": token_auth.get_config(session, principal, identity_id)}
    return {}


# --- the configuration forms --------------------------------------------------------------------


def _policy_form_values(policy: TokenPolicy) -> dict[str, Any]:
    return {
        "accessTokenTTL": str(policy.ttl),
        "accessTokenMaxTTL": str(policy.max_ttl),
        "accessTokenNumUsesLimit": str(policy.num_uses_limit),
        "accessTokenTrustedIps": cidrs(policy.trusted_ips),
    }


def _stored_values(method: str, config: Any) -> dict[str, Any]:
    """The form as it should appear for a stored configuration (or the defaults when None)."""
    values = _policy_form_values(config.policy() if config is not None else TokenPolicy())
    if method == "universal-auth":
        values.update(
            clientSecretTrustedIps=cidrs(config.client_secret_trusted_ips) if config else "0.0.0.0/0, ::/0",
            lockoutEnabled=config.lockout_enabled if config else True,
            lockoutThreshold=str(config.lockout_threshold if config else DEFAULT_LOCKOUT_THRESHOLD),
            lockoutDurationSeconds=str(
                config.lockout_duration_seconds if config else DEFAULT_LOCKOUT_DURATION
            ),
            lockoutCounterResetSeconds=str(
                config.lockout_counter_reset_seconds if config else DEFAULT_LOCKOUT_COUNTER_RESET
            ),
        )
    elif method == "azure-auth":
        tenants = list(config.tenant_ids) if config else []
        values.update(
            tenantId=tenants[0] if tenants else "",
            tenantIds=", ".join(tenants[1:]),
            resource=config.resource if config else DEFAULT_RESOURCE,
            cloud=config.cloud if config else Cloud.public.value,
            allowedServicePrincipalIds=", ".join(config.allowed_service_principal_ids) if config else "",
            allowAnyPrincipalInTenant=bool(config and config.allow_any_principal_in_tenant),
            allowedClientIds=", ".join(config.allowed_client_ids) if config else "",
            allowedSubscriptionIds=", ".join(config.allowed_subscription_ids) if config else "",
            allowedResourceGroups=", ".join(config.allowed_resource_groups) if config else "",
            allowedResourceIds="\n".join(config.allowed_resource_ids) if config else "",
            maxTokenAgeSeconds=str(config.max_token_age_seconds or "") if config else "",
            oneTimeUse=bool(config and config.one_time_use),
        )
    return values


def _typed_values(method: str, form: FormData) -> dict[str, Any]:
    """The form as typed, for showing it again next to its errors."""
    names = ["accessTokenTTL", "accessTokenMaxTTL", "accessTokenNumUsesLimit", "accessTokenTrustedIps"]
    if method == "universal-auth":
        names += [
            "clientSecretTrustedIps",
            "lockoutThreshold",
            "lockoutDurationSeconds",
            "lockoutCounterResetSeconds",
        ]
    elif method == "azure-auth":
        names += ["tenantId", "resource", "cloud", "maxTokenAgeSeconds", *AZURE_LISTS]
    values: dict[str, Any] = {name: text(form, name) for name in names}
    for box in CHECKBOXES.get(method, ()):
        values[box] = form.get(box) == "true"
    return values


def _wire_input(method: str, values: dict[str, Any], *, updating: bool) -> dict[str, Any]:
    """Typed form values → the method schema's input. Blank policy fields keep defaults/stored values;
    on update, the method's own fields are all sent, so clearing a list in the form clears it."""
    data = without_blanks(policy_values(values))
    if method == "universal-auth":
        ips = lines(values["clientSecretTrustedIps"])
        data.update(
            without_blanks(
                {
                    "clientSecretTrustedIps": [{"ipAddress": ip} for ip in ips] or None,
                    "lockoutThreshold": values["lockoutThreshold"] or None,
                    "lockoutDurationSeconds": values["lockoutDurationSeconds"] or None,
                    "lockoutCounterResetSeconds": values["lockoutCounterResetSeconds"] or None,
                }
            ),
            lockoutEnabled=values["lockoutEnabled"],
        )
    elif method == "azure-auth":
        data.update(
            {name: lines(values[name]) for name in AZURE_LISTS if updating or values[name]},
            allowAnyPrincipalInTenant=values["allowAnyPrincipalInTenant"],
            oneTimeUse=values["oneTimeUse"],
        )
        for name in ("tenantId", "resource", "cloud"):
            if values[name]:
                data[name] = values[name]
        if values["maxTokenAgeSeconds"] or updating:
            data["maxTokenAgeSeconds"] = values["maxTokenAgeSeconds"] or 0
    return data


@dataclass(frozen=True, slots=True)
class MethodOps:
    attach_schema: type[BaseModel]
    patch_schema: type[BaseModel]
    attach: Callable[..., Any]
    update: Callable[..., Any]
    get: Callable[..., Any]
    remove: Callable[..., Any]


OPS = {
    "universal-auth": MethodOps(
        UniversalAuthAttachIn,
        UniversalAuthPatchIn,
        universal.attach,
        universal.update_config,
        universal.get_config,
        universal.revoke_config,
    ),
    "azure-auth": MethodOps(
        AzureAuthAttachIn, AzureAuthPatchIn, azure.attach, azure.update, azure.get, azure.revoke
    ),
    "token-auth": MethodOps(
        TokenAuthAttachIn,
        TokenAuthPatchIn,
        token_auth.attach,
        token_auth.update_config,
        token_auth.get_config,
        token_auth.revoke_config,
    ),
}


def _ops(method: str) -> MethodOps:
    ops = OPS.get(method)
    if ops is None:
        raise NotFound("There is no such auth method", reason="console_unknown_method")
    return ops


def field_errors(exc: ValidationError | TesseraError) -> dict[str, str]:
    errors = pydantic_errors(exc) if isinstance(exc, ValidationError) else service_errors(exc)
    # Checks across fields are reported by the schema as a whole; name the field they are about.
    message = errors.get(FORM_ERROR, "")
    if "tenant" in message.lower():
        errors["tenantId"] = errors.pop(FORM_ERROR)
    elif "TTL" in message:
        errors["accessTokenTTL"] = errors.pop(FORM_ERROR)
    return errors


@router.get("/identities/{identity_id}/auth/{method}")
def method_form(
    request: Request, identity_id: str, method: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    ops = _ops(method)
    refuse_delegate(session, viewer, identity_id)
    view = identities.get_identity(session, viewer.principal, identity_id)
    attached = method in view.auth_methods
    config = ops.get(session, viewer.principal, identity_id) if attached else None
    return render(
        request,
        "auth_method.html",
        nav=NAV,
        view=view,
        method=method,
        label=LABELS[method],
        attached=attached,
        values=_stored_values(method, config),
        cloud_options=CLOUD_OPTIONS,
    )


@router.post("/identities/{identity_id}/auth/{method}")
def method_save(
    request: Request, identity_id: str, method: str, form: FormDep, session: SessionDep, viewer: ViewerDep
) -> Response:
    ops = _ops(method)
    refuse_delegate(session, viewer, identity_id)
    view = identities.get_identity(session, viewer.principal, identity_id)
    attached = method in view.auth_methods
    values = _typed_values(method, form)
    try:
        schema = ops.patch_schema if attached else ops.attach_schema
        body = schema.model_validate(_wire_input(method, values, updating=attached))
        with attempt(session, viewer.ctx, viewer.now):
            action = ops.update if attached else ops.attach
            action(session, viewer.principal, identity_id, body, now=viewer.now, ctx=viewer.ctx)
    except (ValidationError, TesseraError) as exc:
        return render(
            request,
            "auth_method.html",
            status=422 if isinstance(exc, ValidationError) else exc.status_code,
            nav=NAV,
            view=view,
            method=method,
            label=LABELS[method],
            attached=attached,
            values=values,
            errors=field_errors(exc),
            cloud_options=CLOUD_OPTIONS,
        )
    audit_action(
        session,
        viewer,
        f"auth_method.{'update' if attached else 'attach'}",
        identity_id=identity_id,
        method=method,
    )
    return redirect(f"/identities/{identity_id}?notice=saved#authentication")


@router.get("/identities/{identity_id}/auth/{method}/remove")
def method_remove_confirm(
    request: Request, identity_id: str, method: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    _ops(method)
    refuse_delegate(session, viewer, identity_id)
    view = identities.get_identity(session, viewer.principal, identity_id)
    return confirm_page(
        request,
        title=f"Remove {LABELS[method]} from “{view.identity.name}”?",
        message=f"Every access token issued through {LABELS[method]} stops working at once"
        + (", and its client secrets are deleted." if method == "universal-auth" else "."),
        action=f"/identities/{identity_id}/auth/{method}/remove",
        button=f"Remove {LABELS[method]}",
        cancel=f"/identities/{identity_id}#authentication",
        nav=NAV,
    )


@router.post("/identities/{identity_id}/auth/{method}/remove")
def method_remove(
    request: Request, identity_id: str, method: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    ops = _ops(method)
    refuse_delegate(session, viewer, identity_id)
    ops.remove(session, viewer.principal, identity_id, now=viewer.now, ctx=viewer.ctx)
    audit_action(session, viewer, "auth_method.remove", identity_id=identity_id, method=method)
    return redirect(f"/identities/{identity_id}?notice=removed#authentication", request=request)
