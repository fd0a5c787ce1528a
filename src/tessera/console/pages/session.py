"""Sign-in, sign-out and the first-run set-up form."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from tessera.api.deps import ContextDep, RequestCtxDep, SessionDep
from tessera.console import auth
from tessera.console.forms import pydantic_errors
from tessera.console.web import (
    SESSION_COOKIE,
    ConsoleRoute,
    FormDep,
    PublicConsoleRoute,
    attempt,
    clear_cookie,
    key,
    redirect,
    render,
    safe_next,
    session_policy,
    set_cookie,
    text,
    throttle_policy,
)
from tessera.errors import InvalidCredentials, RateLimited, TesseraError
from tessera.orgs import service as orgs
from tessera.orgs.schemas import MIN_PASSWORD_LENGTH, BootstrapIn

public = APIRouter(route_class=PublicConsoleRoute, include_in_schema=False)
private = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@public.get("/login")
def sign_in_form(request: Request, session: SessionDep) -> Response:
    if not orgs.is_bootstrapped(session):
        return redirect("/setup")
    return render(request, "login.html", email="", next=safe_next(request.query_params.get("next")))


@public.post("/login")
def sign_in(
    request: Request, form: FormDep, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> Response:
    email, password = text(form, "email"), str(form.get("password") or "")
    target = safe_next(text(form, "next"))
    errors = {}
    if not email:
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105 - a message, not a password
    if errors:
        return render(request, "login.html", status=422, errors=errors, email=email, next=target)
    now = context.clock.now()
    try:
        with attempt(session, ctx, now):
            user, org_id = auth.sign_in(
                session,
                email=email,
                password=password,
                now=now,
                ctx=ctx,
                throttle=throttle_policy(context),
                throttle_secret=key(context, "throttle"),
            )
    except (InvalidCredentials, RateLimited) as exc:
        return render(
            request, "login.html", status=exc.status_code, form_error=exc.message, email=email, next=target
        )
    raw = auth.start_session(
        session,
        user=user,
        org_id=org_id,
        now=now,
        policy=session_policy(context),
        key=key(context, "session"),
        ctx=ctx,
    )
    response = redirect(target)
    set_cookie(response, request, SESSION_COOKIE, raw, max_age=context.settings.console_session_max_seconds)
    return response


@private.post("/logout")
def sign_out(request: Request, session: SessionDep, context: ContextDep) -> Response:
    auth.end_session(session, request.cookies.get(SESSION_COOKIE), key=key(context, "session"))
    response = redirect("/login?notice=signed-out", request=request)
    clear_cookie(response, request, SESSION_COOKIE)
    return response


@public.get("/setup")
def setup_form(request: Request, session: SessionDep) -> Response:
    if orgs.is_bootstrapped(session):
        return redirect("/login")
    return render(request, "setup.html", values={}, min_password=MIN_PASSWORD_LENGTH)


@public.post("/setup")
def setup(
    request: Request, form: FormDep, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> Response:
    """First run: the same bootstrap as the API, from a form."""
    values = {"email": text(form, "email"), "organization": text(form, "organization")}
    password = str(form.get("password") or "")
    errors: dict[str, str] = {}
    if password != str(form.get("password_confirm") or ""):
        errors["password_confirm"] = "The two passwords differ."  # noqa: S105 - a message
    try:
        body = BootstrapIn(email=values["email"], password=password, organization=values["organization"])
    except ValidationError as exc:
        errors = {**pydantic_errors(exc), **errors}
    if errors:
        return render(
            request, "setup.html", status=422, errors=errors, values=values, min_password=MIN_PASSWORD_LENGTH
        )
    now = context.clock.now()
    try:
        with attempt(session, ctx, now):
            result = orgs.bootstrap(
                session,
                email=str(body.email),
                password=body.password,
                organization_name=body.organization,
                now=now,
                signing_secret=context.signing_secret,
                ctx=ctx,
            )
    except TesseraError as exc:
        return render(
            request,
            "setup.html",
            status=exc.status_code,
            form_error=exc.message,
            values=values,
            min_password=MIN_PASSWORD_LENGTH,
        )
    # The bootstrap admin token is shown here once, for API use; only its row is stored.
    return render(
        request,
        "setup_done.html",
        email=result.user.email,
        organization=result.organization.name,
        identity_name=result.identity.name,
        token=result.login.access_token,
    )
