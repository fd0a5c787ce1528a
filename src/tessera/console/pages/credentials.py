"""An identity's credentials and tokens: Universal Auth client secrets and Token Auth tokens (each
shown once), and its access tokens (revoke one, revoke all)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from tessera.api.deps import ContextDep, SessionDep
from tessera.auth import token_service
from tessera.auth.token import service as token_auth
from tessera.auth.token.schemas import TokenCreateIn
from tessera.auth.universal import service as universal
from tessera.auth.universal.schemas import ClientSecretCreateIn
from tessera.console.forms import without_blanks
from tessera.console.pages.auth_methods import NAV, field_errors
from tessera.console.pages.common import confirm_page, refuse_delegate
from tessera.console.web import (
    ConsoleRoute,
    FormDep,
    ViewerDep,
    attempt,
    audit_action,
    redirect,
    render,
    text,
)
from tessera.errors import NotFound, TesseraError
from tessera.identities import service as identities

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


# --- credentials shown once ------------------------------------------------------------------------


@router.post("/identities/{identity_id}/auth/universal-auth/client-secrets")
def client_secret_create(
    request: Request,
    identity_id: str,
    form: FormDep,
    session: SessionDep,
    viewer: ViewerDep,
    context: ContextDep,
) -> Response:
    refuse_delegate(session, viewer, identity_id)
    values = {name: text(form, name) for name in ("description", "ttl", "numUsesLimit")}
    try:
        body = ClientSecretCreateIn.model_validate(without_blanks({k: v or None for k, v in values.items()}))
        with attempt(session, viewer.ctx, viewer.now):
            plaintext, row = universal.create_client_secret(
                session,
                viewer.principal,
                identity_id,
                body,
                now=viewer.now,
                key=universal.client_secret_key(context.signing_secret),
                ctx=viewer.ctx,
            )
            config = universal.get_config(session, viewer.principal, identity_id)
    except (ValidationError, TesseraError) as exc:
        view = identities.get_identity(session, viewer.principal, identity_id)
        return render(
            request,
            "client_secret_new.html",
            status=422 if isinstance(exc, ValidationError) else exc.status_code,
            nav=NAV,
            view=view,
            values=values,
            errors=field_errors(exc),
        )
    audit_action(session, viewer, "client_secret.create", identity_id=identity_id, clientSecretId=row.id)
    view = identities.get_identity(session, viewer.principal, identity_id)
    return render(
        request,
        "credential_once.html",
        nav=NAV,
        view=view,
        kind="client secret",
        items=[("Client ID", config.client_id), ("Client secret", plaintext)],
    )


@router.get("/identities/{identity_id}/auth/universal-auth/client-secrets/new")
def client_secret_form(
    request: Request, identity_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    refuse_delegate(session, viewer, identity_id)
    view = identities.get_identity(session, viewer.principal, identity_id)
    return render(request, "client_secret_new.html", nav=NAV, view=view, values={})


@router.get("/identities/{identity_id}/auth/universal-auth/client-secrets/{secret_id}/revoke")
def client_secret_revoke_confirm(
    request: Request, identity_id: str, secret_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    row = universal.get_client_secret(session, viewer.principal, identity_id, secret_id)
    return confirm_page(
        request,
        title=f"Revoke client secret {row.secret_prefix}…?",
        message="Logins with this secret stop, and every access token it produced stops working at once.",
        action=f"/identities/{identity_id}/auth/universal-auth/client-secrets/{secret_id}/revoke",
        button="Revoke client secret",
        cancel=f"/identities/{identity_id}#authentication",
        nav=NAV,
    )


@router.post("/identities/{identity_id}/auth/universal-auth/client-secrets/{secret_id}/revoke")
def client_secret_revoke(
    request: Request, identity_id: str, secret_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    refuse_delegate(session, viewer, identity_id)
    universal.revoke_client_secret(
        session, viewer.principal, identity_id, secret_id, now=viewer.now, ctx=viewer.ctx
    )
    audit_action(session, viewer, "client_secret.revoke", identity_id=identity_id, clientSecretId=secret_id)
    return redirect(f"/identities/{identity_id}?notice=revoked#authentication", request=request)


@router.post("/identities/{identity_id}/auth/token-auth/tokens")
def token_create(
    request: Request,
    identity_id: str,
    form: FormDep,
    session: SessionDep,
    viewer: ViewerDep,
    context: ContextDep,
) -> Response:
    refuse_delegate(session, viewer, identity_id)
    body = TokenCreateIn(name=text(form, "name")[:255] or None)
    result, row = token_auth.create_token(
        session,
        viewer.principal,
        identity_id,
        body,
        now=viewer.now,
        signing_secret=context.signing_secret,
        ctx=viewer.ctx,
    )
    audit_action(session, viewer, "token.create", identity_id=identity_id, tokenId=row.id)
    view = identities.get_identity(session, viewer.principal, identity_id)
    return render(
        request,
        "credential_once.html",
        nav=NAV,
        view=view,
        kind="access token",
        items=[("Access token", result.access_token)],
    )


# --- access tokens -----------------------------------------------------------------------------


@router.get("/identities/{identity_id}/tokens/revoke-all")
def revoke_all_confirm(
    request: Request, identity_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    view = identities.get_identity(session, viewer.principal, identity_id)
    return confirm_page(
        request,
        title=f"Revoke every token of “{view.identity.name}”?",
        message="All of its access tokens stop working at once. Its credentials (client secrets) stay; "
        "it can log in again.",
        action=f"/identities/{identity_id}/tokens/revoke-all",
        button="Revoke all tokens",
        cancel=f"/identities/{identity_id}#tokens",
        nav=NAV,
    )


@router.post("/identities/{identity_id}/tokens/revoke-all")
def revoke_all(request: Request, identity_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    refuse_delegate(session, viewer, identity_id)
    count = token_service.revoke_all(session, viewer.principal, identity_id, now=viewer.now, ctx=viewer.ctx)
    audit_action(session, viewer, "token.revoke_all", identity_id=identity_id, revokedTokens=count)
    return redirect(f"/identities/{identity_id}?notice=revoked#tokens", request=request)


@router.get("/identities/{identity_id}/tokens/{token_id}/revoke")
def revoke_token_confirm(
    request: Request, identity_id: str, token_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    view = identities.get_identity(session, viewer.principal, identity_id)
    return confirm_page(
        request,
        title="Revoke this access token?",
        message=f"The token {token_id[:8]}… of “{view.identity.name}” stops working at once.",
        action=f"/identities/{identity_id}/tokens/{token_id}/revoke",
        button="Revoke token",
        cancel=f"/identities/{identity_id}#tokens",
        nav=NAV,
    )


@router.post("/identities/{identity_id}/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, identity_id: str, token_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    refuse_delegate(session, viewer, identity_id)
    token = token_service.admin_revoke(session, viewer.principal, token_id, now=viewer.now, ctx=viewer.ctx)
    if token.identity_id != identity_id:
        raise NotFound("Token not found", reason="token_not_found")
    audit_action(session, viewer, "token.revoke", identity_id=identity_id, tokenId=token_id)
    return redirect(f"/identities/{identity_id}?notice=revoked#tokens", request=request)
