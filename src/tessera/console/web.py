"""The console's HTTP plumbing: route classes (CSRF check, sign-in redirects, HTML errors, headers),
the signed-in viewer, template rendering, cookies and the vendored static files."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tessera.api.deps import AppContext, ContextDep, RequestCtxDep, SessionDep, get_context
from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.client_ip import parse_proxies
from tessera.auth.principal import Principal
from tessera.console import auth, csrf
from tessera.console.auth import SessionPolicy, SignedIn, ThrottlePolicy
from tessera.console.formatting import FILTERS
from tessera.console.principal import acting_principal
from tessera.errors import TesseraError

SESSION_COOKIE = "tessera_session"
SESSION_KIND = "s"
PUBLIC_KIND = "a"
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript", "htmx.min.js": "text/javascript"}
# Scripts and styles come only from this server; no inline script runs, nothing is framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
NOTICES = {
    "created": "Created.",
    "saved": "Saved.",
    "deleted": "Deleted.",
    "revoked": "Revoked.",
    "removed": "Removed.",
    "signed-out": "You are signed out.",
    "expired": "Your session has ended. Sign in again to continue.",
    "set-up": "Tessera is set up. Sign in with the email and password you chose.",
}


class SignInRequired(Exception):
    """No valid session: the route class turns this into a redirect to the sign-in page."""

    def __init__(self, *, expired: bool) -> None:
        super().__init__("sign-in required")
        self.expired = expired


# --- app-wide collaborators, built once per app and kept in the context's extras ----------------


def _extra(context: AppContext, name: str, build: Callable[[], Any]) -> Any:
    if name not in context.extras:
        context.extras[name] = build()
    return context.extras[name]


def template_env(context: AppContext) -> jinja2.Environment:
    def build() -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("tessera.console", "templates"),
            autoescape=True,  # every template, whatever its name: values are always escaped
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(FILTERS)
        return env

    env: jinja2.Environment = _extra(context, "console.templates", build)
    return env


def session_policy(context: AppContext) -> SessionPolicy:
    s = context.settings
    return SessionPolicy(
        idle_seconds=s.console_session_idle_seconds, max_seconds=s.console_session_max_seconds
    )


def throttle_policy(context: AppContext) -> ThrottlePolicy:
    s = context.settings
    return ThrottlePolicy(
        max_failures=s.console_login_max_failures, lockout_seconds=s.console_login_lockout_seconds
    )


def _keys(context: AppContext) -> dict[str, bytes]:
    def build() -> dict[str, bytes]:
        secret = context.signing_secret
        return {
            "session": auth.session_key(secret),
            "throttle": auth.throttle_key(secret),
            "csrf": csrf.csrf_key(secret),
        }

    keys: dict[str, bytes] = _extra(context, "console.keys", build)
    return keys


def key(context: AppContext, purpose: str) -> bytes:
    return _keys(context)[purpose]


# --- transport security ------------------------------------------------------------------------


def is_https(request: Request, context: AppContext) -> bool:
    """HTTPS as the browser sees it: the socket's scheme, or X-Forwarded-Proto from a trusted proxy."""
    if request.url.scheme == "https":
        return True
    proxies = _extra(context, "console.proxies", lambda: parse_proxies(context.settings.trusted_proxies))
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and peer is not None and _in_networks(peer, proxies)


def _in_networks(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,  # scripts never need the session id
        samesite="lax",  # not sent on cross-site POSTs; the CSRF token is the second line
        secure=is_https(request, get_context(request)),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=is_https(request, get_context(request))
    )


def _security_headers(response: Response, *, static: bool) -> None:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Pages can show secrets and client secrets: never keep them in a cache.
    response.headers.setdefault("Cache-Control", "public, max-age=3600" if static else "no-store")


# --- CSRF --------------------------------------------------------------------------------------


def csrf_binding(request: Request, kind: str) -> str | None:
    cookie = SESSION_COOKIE if kind == SESSION_KIND else csrf.PRESESSION_COOKIE
    fresh = getattr(request.state, "console_new_presession", None)
    if kind == PUBLIC_KIND and fresh:
        return str(fresh)
    return request.cookies.get(cookie)


def csrf_token(request: Request) -> str:
    """The token for forms on this page; before sign-in a pre-session cookie is made if missing."""
    kind = getattr(request.state, "console_kind", SESSION_KIND)
    binding = csrf_binding(request, kind)
    if binding is None and kind == PUBLIC_KIND:
        binding = csrf.new_presession_id()
        request.state.console_new_presession = binding
    return csrf.token_for(key(get_context(request), "csrf"), kind, binding or "")


async def _csrf_ok(request: Request, kind: str) -> bool:
    presented = request.headers.get(csrf.HEADER)
    if presented is None:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            value = (await request.form()).get(csrf.FIELD)
            presented = value if isinstance(value, str) else None
    context = get_context(request)
    return csrf.is_valid(key(context, "csrf"), kind, csrf_binding(request, kind), presented)


# --- route classes -----------------------------------------------------------------------------


class ConsoleRoute(APIRoute):
    """Routes for signed-in people: CSRF checked on every POST before anything else runs."""

    kind = SESSION_KIND

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        kind = self.kind

        async def handler(request: Request) -> Response:
            request.state.console_kind = kind
            if request.method == "POST" and not await _csrf_ok(request, kind):
                response: Response = error_page(
                    request,
                    403,
                    "This form has expired or did not come from this console. "
                    "Go back, reload the page and try again.",
                    title="Form expired",
                )
            else:
                try:
                    response = await original(request)
                except SignInRequired as exc:
                    response = redirect_to_sign_in(request, expired=exc.expired)
                except TesseraError as exc:
                    response = error_page(request, exc.status_code, exc.message)
            _finish(request, response)
            return response

        return handler


class PublicConsoleRoute(ConsoleRoute):
    """Routes used before sign-in (sign-in, first-run set-up, static files)."""

    kind = PUBLIC_KIND


def _finish(request: Request, response: Response) -> None:
    fresh = getattr(request.state, "console_new_presession", None)
    if fresh:
        set_cookie(response, request, csrf.PRESESSION_COOKIE, str(fresh), max_age=None)
    _security_headers(response, static=request.url.path.startswith("/static/"))


def redirect(url: str, *, request: Request | None = None) -> Response:
    """303 to a console path; htmx requests get an HX-Redirect so the whole page changes."""
    if request is not None and request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def redirect_to_sign_in(request: Request, *, expired: bool) -> Response:
    target = request.url.path if request.method == "GET" else "/"
    url = f"/login?next={quote(target, safe='/')}" + ("&notice=expired" if expired else "")
    response = redirect(url, request=request)
    if expired:
        clear_cookie(response, request, SESSION_COOKIE)
    return response


def safe_next(value: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


# --- rendering ---------------------------------------------------------------------------------


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    context = get_context(request)
    viewer = getattr(request.state, "console_viewer", None)
    notice = request.query_params.get("notice")
    page = {
        "request": request,
        "viewer": viewer,
        "csrf": csrf_token(request),
        "notice": NOTICES.get(notice or ""),
        "nav": values.pop("nav", ""),
        "errors": values.pop("errors", {}),
        "form_error": values.pop("form_error", None),
    }
    html = template_env(context).get_template(template).render(**page, **values)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str, *, title: str | None = None) -> HTMLResponse:
    titles = {401: "Sign-in needed", 403: "Not allowed", 404: "Not found", 429: "Too many requests"}
    return render(
        request,
        "error.html",
        status=status,
        title=title or titles.get(status, "Something went wrong"),
        message=message if status < 500 else "Something went wrong. The server log has the details.",
        signed_in=request.cookies.get(SESSION_COOKIE) is not None,
    )


def static_file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    body = resources.files("tessera.console").joinpath("static", name).read_bytes()
    return Response(body, media_type=media_type)


# --- the signed-in viewer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Viewer:
    person: SignedIn
    principal: Principal
    now: datetime
    ctx: RequestContext


def get_viewer(request: Request, session: SessionDep, context: ContextDep, ctx: RequestCtxDep) -> Viewer:
    """The signed-in person and the principal their actions run under.

    Raises:
        SignInRequired: no session cookie, or its session is unknown or over.
        PermissionDenied: the person may not use the console (not an org admin).
    """
    raw = request.cookies.get(SESSION_COOKIE)
    now = context.clock.now()
    person = auth.resolve_session(
        session, raw, now=now, policy=session_policy(context), key=key(context, "session")
    )
    if person is None:
        # Keep the removal of the dead session row: the redirect below would otherwise roll it back.
        session.commit()
        raise SignInRequired(expired=raw is not None)
    request.state.console_viewer = person
    principal = acting_principal(session, person, now=now, client_ip=ctx.client_ip)
    return Viewer(person=person, principal=principal, now=now, ctx=ctx)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def read_form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(read_form)]


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


def texts(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str)]


# --- service calls from forms --------------------------------------------------------------------


@contextmanager
def attempt(session: Session, ctx: RequestContext, now: datetime) -> Iterator[None]:
    """Run a service call in a savepoint so a form can show its error and the page still renders.

    What the call wrote is undone on failure (kept when the error asks for it, e.g. a failed
    sign-in counter), and a failure that asks for an audit record gets one, as at the API edge.
    """
    nested = session.begin_nested()
    try:
        yield
    except TesseraError as exc:
        if exc.persist:
            nested.commit()
        else:
            nested.rollback()
        if exc.audit is not None:
            _audit_failure(session, ctx, now, exc)
        raise
    nested.commit()


def _audit_failure(session: Session, ctx: RequestContext, now: datetime, exc: TesseraError) -> None:
    data = dict(exc.audit or {})
    record(
        session,
        AuditEntry(
            event=str(data.pop("event", "request")),
            outcome="failure",
            reason=exc.reason,
            org_id=data.pop("org_id", None),
            actor_type=data.pop("actor_type", "anonymous"),
            actor_id=data.pop("actor_id", None),
            identity_id=data.pop("identity_id", None),
            auth_method=data.pop("auth_method", None),
            details=data.pop("details", {}) or {},
        ),
        ctx,
        now=now,
    )


def audit_action(session: Session, viewer: Viewer, event: str, **details: Any) -> None:
    """Record what a person did through the console, under their own name."""
    record(
        session,
        AuditEntry(
            event=f"console.{event}",
            org_id=viewer.person.org_id,
            actor_type="user",
            actor_id=viewer.person.user_id,
            identity_id=details.pop("identity_id", None),
            details={"email": viewer.person.email, **details},
        ),
        viewer.ctx,
        now=viewer.now,
    )
