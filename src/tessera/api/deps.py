"""FastAPI dependencies: the only place `Depends` appears. Services get plain parameters."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar, cast

import anyio
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.principal import Principal
from tessera.auth.token_uses import SESSION_KEY as USE_LEDGER_KEY
from tessera.auth.token_uses import ledger_of, session_ledger
from tessera.auth.tokens import USES_EXHAUSTED, authenticate, parse_bearer, take_use
from tessera.clock import Clock
from tessera.errors import TesseraError, Unauthorized
from tessera.observability.metrics import (
    Metrics,
    bind_session,
    metrics_of,
    record_login,
)
from tessera.settings import Settings
from tessera.store.engine import SQLITE_AUTOCOMMIT, local_file_writer
from tessera.store.sqlite_writer import WriterBusy, attempt_without_waiting


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


async def _context_dep(request: Request) -> AppContext:
    # Trivial dependencies are `async def` so that they run on the event loop: a sync one costs a
    # round trip through the worker-thread pool, and under load each trip waits its turn.
    return get_context(request)


ContextDep = Annotated[AppContext, Depends(_context_dep)]


async def get_request_context(request: Request) -> RequestContext:
    return RequestContext(
        request_id=getattr(request.state, "request_id", None),
        client_ip=getattr(request.state, "client_ip", None),
        user_agent=request.headers.get("user-agent"),
    )


RequestCtxDep = Annotated[RequestContext, Depends(get_request_context)]

UNIT_LIMITERS_KEY = "tessera.unit_limiters"
READ_ONLY_ATTR = "__tessera_read_only__"
READ_ONLY_KEY = "tessera.read_only"
PENDING_USE_KEY = "tessera.pending_token_use"
E = TypeVar("E", bound=Callable[..., object])
T = TypeVar("T")


def read_only(endpoint: E) -> E:
    """Mark an endpoint whose requests only read (hot GETs such as a secret read).

    Its session reads without holding a write transaction (on SQLite: no transaction at all, so
    reads never wait for writers), and the caller's token use is taken after the reads: in
    memory for a token without a use limit (auth.token_uses), otherwise in one short conditional
    UPDATE just before the answer is sent. If that UPDATE loses (the token was used up or revoked
    meanwhile) the answer is the same 401 as before, and nothing read is sent. A write such an
    endpoint makes anyway (a project's data key created on first use) is one INSERT, which on
    SQLite commits by itself.
    """
    setattr(endpoint, READ_ONLY_ATTR, True)
    return endpoint


def _is_read_only(request: Request) -> bool:
    return bool(getattr(request.scope.get("endpoint"), READ_ONLY_ATTR, False))


@dataclass(frozen=True, slots=True)
class _PendingUse:
    principal: Principal
    now: datetime


def _read_engine(context: AppContext, engine: Engine) -> Engine:
    """SQLite's variant for read-only requests: no transaction, so no write lock held or awaited.

    (PostgreSQL keeps its transaction: autocommit would save BEGIN and COMMIT, but switching the
    isolation level at every checkout measured dearer than those two round trips.)
    """
    key = "tessera.read_engine"
    cached = context.extras.get(key)
    if isinstance(cached, tuple) and cached[0] is engine:
        return cast(Engine, cached[1])
    reader = engine.execution_options(**{SQLITE_AUTOCOMMIT: True})
    context.extras[key] = (engine, reader)
    return reader


def _new_session(request: Request, context: AppContext) -> Session:
    session = context.session_factory()
    if _is_read_only(request):
        session.info[READ_ONLY_KEY] = True
        engine = session.get_bind()
        if isinstance(engine, Engine) and engine.dialect.name == "sqlite":
            session.bind = _read_engine(context, engine)
    # Authorisation reads the app's clock from here (temporary role expiry) without a new parameter.
    session.info["clock"] = context.clock
    bind_session(session, metrics_of(context.extras))
    factory_engine = _factory_engine(context)
    if factory_engine is not None:
        session.info[USE_LEDGER_KEY] = ledger_of(context.extras, factory_engine)
    return session


def _factory_engine(context: AppContext) -> Engine | None:
    """The app's engine, as its session factory was built with (never a read-only variant)."""
    engine = getattr(context.session_factory, "kw", {}).get("bind")
    return engine if isinstance(engine, Engine) else None


async def get_session(request: Request, context: ContextDep, ctx: RequestCtxDep) -> AsyncIterator[Session]:
    """One transaction per request: committed before the response is sent, rolled back on error.

    A TesseraError may ask for what was written to be kept (`persist`) and for an audit record of
    the failure, which is written in its own transaction so a rollback cannot lose it.

    Creating the session does no I/O (it connects on first use), so it happens on the event loop;
    the commit runs there too when it cannot wait for anything (SQLite, write lock already held),
    which keeps SQLite's one write transaction as short as possible. Everything else that touches
    the database runs in a worker thread.
    """
    session = _new_session(request, context)
    try:
        yield session
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_finish_failed, session, context, ctx, exc)
        raise
    pending = session.info.pop(PENDING_USE_KEY, None)
    if pending is None and _commit_cannot_wait(session):
        try:
            session.commit()
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_finish_failed, session, context, ctx, exc)
            raise
        session.close()
        return
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(_finish_ok, session, context, ctx, pending)


def _commit_cannot_wait(session: Session) -> bool:
    """True when committing takes no lock it does not already hold (so it may run on the loop)."""
    transaction = session.get_transaction()
    if transaction is None:
        return not (session.new or session.dirty or session.deleted)
    # The connections this transaction has opened (bind → (Connection, …)); none yet means the
    # commit's flush would connect and BEGIN, which may wait.
    opened = getattr(transaction, "_connections", None) or {}
    if len(opened) != 1:
        return False
    connection = next(iter(opened.values()))[0]
    if connection.dialect.name != "sqlite":
        return False
    return bool(getattr(connection.connection.dbapi_connection, "in_transaction", False))


def _finish_ok(
    session: Session, context: AppContext, ctx: RequestContext, pending: _PendingUse | None
) -> None:
    """Commit; for a read-only request first take the token use it was authenticated with."""
    try:
        separate = (
            pending is not None
            and _takes_use_in_sql(session, pending)
            and session.info.get(READ_ONLY_KEY)
            and _is_sqlite(session)
        )
        if pending is not None and not separate:
            _take_use(session, pending)
        session.commit()
    except BaseException as exc:
        _finish_failed(session, context, ctx, exc)
        raise
    session.close()
    if pending is not None and separate:
        # The reads ran outside any transaction; the use gets a short write transaction of its
        # own, on a plain connection (no ORM session is needed for one UPDATE).
        # The factory's engine, not the session's read-only variant (which skips BEGIN IMMEDIATE).
        engine = _factory_engine(context)
        assert engine is not None
        with engine.begin() as writer:
            _take_use(writer, pending, metrics_of(context.extras))


def _takes_use_in_sql(session: Session, pending: _PendingUse) -> bool:
    """False when the use only goes to the in-memory ledger (a token without a use limit)."""
    return pending.principal.uses_limited or session_ledger(session.info) is None


def _take_use(db: Session | Connection, pending: _PendingUse, metrics: Metrics | None = None) -> None:
    if not take_use(db, pending.principal, pending.now, metrics=metrics):
        raise Unauthorized(USES_EXHAUSTED, reason="uses_exhausted_race")


def _is_sqlite(session: Session) -> bool:
    bind = session.get_bind()
    return isinstance(bind, Engine) and bind.dialect.name == "sqlite"


def _finish_failed(session: Session, context: AppContext, ctx: RequestContext, exc: BaseException) -> None:
    try:
        if isinstance(exc, TesseraError):
            if exc.persist:
                session.commit()
            else:
                session.rollback()
            if exc.audit is not None:
                # Audit first: an attempt that may not wait for the write lock stops here
                # (WriterBusy) and is run again, and must not have counted the failure yet.
                _audit_failure(session, context, ctx, exc)
                _count_login_failure(context, exc)
        else:
            session.rollback()
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


def _unit_limiter(context: AppContext) -> anyio.CapacityLimiter:
    """The hot routes' own small set of worker threads (one limiter per event loop)."""
    loop = asyncio.get_running_loop()
    limiters = context.extras.setdefault(UNIT_LIMITERS_KEY, weakref.WeakKeyDictionary())
    assert isinstance(limiters, weakref.WeakKeyDictionary)
    limiter = limiters.get(loop)
    if limiter is None:
        limiter = anyio.CapacityLimiter(context.settings.hot_route_threads)
        limiters[loop] = limiter
    return cast(anyio.CapacityLimiter, limiter)


async def in_transaction(
    request: Request, context: AppContext, ctx: RequestContext, work: Callable[[Session], T]
) -> T:
    """Run `work` and the request's commit as ONE unit, for the hot routes.

    The dependency style (`SessionDep`, `PrincipalDep` and a sync endpoint) costs three trips
    through the thread pool per request: authentication, the endpoint and the commit. The
    transaction rules are the same ones `get_session` applies (`read_only` endpoints included):
    commit on success, `_finish_failed` on any error.

    On an SQLite file the unit runs right here on the event loop: its statements are local and
    its reads never wait (WAL), and a thread hop costs more than the whole unit (each of its
    statements hands the GIL between the loop and the worker; measured per secret read: 1.8 ms
    CPU on the loop, 2.7 ms through a thread). Writers take turns at one lock; on the loop a unit
    waits for it only as long as a few short transactions of another writer last
    (LOCAL_WAIT_ON_LOOP_S). When the lock stays taken longer (a long write elsewhere), the
    attempt rolls back (a write unit takes the lock at its first statement, so little is lost)
    and the unit runs on a hot thread instead, where it may wait while the loop serves others.
    Measured worse: going to a thread at once when the lock was taken (it fed itself: while
    units held the lock on threads, every new attempt was refused too), and waiting for the lock
    on a thread and then running the unit on the loop (the lock sat idle until the loop got back
    to it). Everything else (PostgreSQL, whose every statement waits on the network) goes to
    the hot threads directly.

    The hot threads are a few of their own (`TESSERA_HOT_ROUTE_THREADS`, default 2) rather than
    the shared pool of 40: CPU-bound Python threads contend for the GIL, and with 32 requests in
    flight that contention cost more CPU than the requests themselves (measured per request under
    load: 3.5 ms with the shared pool, 1.8 ms with two threads). A unit never waits for another
    hop, so a small pool cannot deadlock: whoever holds a lock is running. Work that may wait on
    the network (an identity provider's keys) is done before the unit.
    """
    if _on_local_file(context):
        try:
            with attempt_without_waiting(up_to_s=LOCAL_WAIT_ON_LOOP_S):
                return _unit_of_work(request, context, ctx, work)
        except WriterBusy:
            pass  # rolled back, nothing committed: wait for the lock on a hot thread instead
    # Shielded like get_session's commit: a client that hangs up must not lose the outcome.
    with anyio.CancelScope(shield=True):
        result = await anyio.to_thread.run_sync(
            _unit_of_work, request, context, ctx, work, limiter=_unit_limiter(context)
        )
    return result  # noqa: RET504 - a cancel scope may swallow exceptions, so mypy needs it here


# How long a unit on the event loop may wait for SQLite's write lock (s): many times a write
# transaction of the hot routes (well under a millisecond), short enough that a long write in
# another worker stalls this worker's loop only this long.
LOCAL_WAIT_ON_LOOP_S = 0.01


def _on_local_file(context: AppContext) -> bool:
    engine = _factory_engine(context)
    return engine is not None and local_file_writer(engine) is not None


def _unit_of_work(
    request: Request, context: AppContext, ctx: RequestContext, work: Callable[[Session], T]
) -> T:
    session = _new_session(request, context)
    try:
        result = work(session)
    except BaseException as exc:
        _finish_failed(session, context, ctx, exc)
        raise
    _finish_ok(session, context, ctx, session.info.pop(PENDING_USE_KEY, None))
    return result


def authenticate_request(
    request: Request, session: Session, context: AppContext, ctx: RequestContext
) -> Principal:
    """The caller's identity from its bearer token (raises Unauthorized / Forbidden)."""
    now = context.clock.now()
    deferred = bool(session.info.get(READ_ONLY_KEY))
    principal = authenticate(
        session,
        parse_bearer(request.headers.get("authorization")),
        client_ip=ctx.client_ip,
        now=now,
        secret=context.signing_secret,
        consume=not deferred,
    )
    if deferred:  # taken when the request commits, once the reads are done
        session.info[PENDING_USE_KEY] = _PendingUse(principal, now)
    request.state.identity_id = principal.identity_id  # for the request log line
    return principal


def get_principal(
    request: Request, session: SessionDep, context: ContextDep, ctx: RequestCtxDep
) -> Principal:
    return authenticate_request(request, session, context, ctx)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
