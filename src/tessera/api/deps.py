"""FastAPI dependencies: the only place `Depends` appears. Services get plain parameters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.principal import Principal
from tessera.auth.tokens import authenticate, parse_bearer
from tessera.clock import Clock
from tessera.errors import TesseraError
from tessera.observability.metrics import bind_session, metrics_of, record_login
from tessera.settings import Settings


@dataclass
class AppContext:
    """Everything built once per app by `create_app` (the composition root)."""

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock
    signing_secret: bytes
    # Feature packages hang their long-lived collaborators here (JWKS cache, key cache, limiter…).
    extras: dict[str, object]


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_request_context(request: Request) -> RequestContext:
    return RequestContext(
        request_id=getattr(request.state, "request_id", None),
        client_ip=getattr(request.state, "client_ip", None),
        user_agent=request.headers.get("user-agent"),
    )


RequestCtxDep = Annotated[RequestContext, Depends(get_request_context)]


def get_session(context: ContextDep, ctx: RequestCtxDep) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, rolled back on error.

    A TesseraError may ask for what was written to be kept (`persist`) and for an audit record of
    the failure, which is written in its own transaction so a rollback cannot lose it.
    """
    session = context.session_factory()
    # Authorisation reads the app's clock from here (temporary role expiry) without a new parameter.
    session.info["clock"] = context.clock
    bind_session(session, metrics_of(context.extras))
    try:
        yield session
        session.commit()
    except TesseraError as exc:
        if exc.persist:
            session.commit()
        else:
            session.rollback()
        if exc.audit is not None:
            _count_login_failure(context, exc)
            _audit_failure(session, context, ctx, exc)
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _count_login_failure(context: AppContext, exc: TesseraError) -> None:
    """Every auth method's failed logins reach the metrics here, with the audit's method and reason."""
    assert exc.audit is not None
    if exc.audit.get("event") == "login":
        outcome = "unavailable" if exc.status_code >= 500 else "failure"
        method = str(exc.audit.get("auth_method") or "unknown")
        record_login(metrics_of(context.extras), method, outcome, exc.reason)


def _audit_failure(session: Session, context: AppContext, ctx: RequestContext, exc: TesseraError) -> None:
    assert exc.audit is not None
    data = dict(exc.audit)
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
        now=context.clock.now(),
    )
    session.commit()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(
    request: Request, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> Principal:
    principal = authenticate(
        session,
        parse_bearer(request.headers.get("authorization")),
        client_ip=ctx.client_ip,
        now=context.clock.now(),
        secret=context.signing_secret,
    )
    request.state.identity_id = principal.identity_id  # for the request log line
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
