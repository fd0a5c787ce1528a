"""The composition root: `create_app(settings)` builds everything; nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy import Engine

from tessera import __version__
from tessera.api import errors
from tessera.api.concurrency import ConcurrencyLimit
from tessera.api.deps import AppContext
from tessera.api.middleware import BodyTooLarge, CompatMiddleware
from tessera.api.responses import JSONResponse
from tessera.api.router import include_routers
from tessera.auth.client_ip import parse_proxies
from tessera.auth.token_uses import close_use_ledger
from tessera.clock import Clock, SystemClock
from tessera.observability import metrics as observability
from tessera.observability.middleware import ObservabilityMiddleware
from tessera.ratelimit import middleware as rate_limits
from tessera.settings import Settings
from tessera.shared_state import redis_store
from tessera.store.engine import make_engine, make_session_factory


def create_app(settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the ASGI app. Keys must already be resolved (`settings.ensure_keys()`)."""
    engine = engine or make_engine(
        settings.resolved_database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    context = AppContext(
        settings=settings,
        session_factory=make_session_factory(engine),
        clock=clock or SystemClock(),
        signing_secret=settings.auth_secret_bytes(),
        extras={},
    )
    redis_store.install(context)  # None unless TESSERA_REDIS_URL is set
    shared = redis_store.get_store(context)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        close_use_ledger(context.extras)  # the last second of unlimited tokens' use counts
        if shared is not None:
            shared.close()
        engine.dispose()

    app = FastAPI(
        title="Tessera",
        version=__version__,
        description="Secrets manager and KMS for machine identities; speaks the Infisical HTTP API.",
        redirect_slashes=False,  # trailing slashes are stripped by the middleware instead
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    app.state.context = context
    app.state.engine = engine
    errors.install(app)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    include_routers(app)
    rate_limits.install(app, context)
    app.add_middleware(ConcurrencyLimit)
    app.add_middleware(
        CompatMiddleware,
        trusted_proxies=parse_proxies(settings.trusted_proxies),
        max_body_bytes=settings.max_body_bytes,
    )
    # Outermost, so every answer is counted and logged once, including the middleware's own.
    app.add_middleware(
        ObservabilityMiddleware, metrics=lambda: observability.metrics_for(context.extras, engine)
    )
    return app


async def _body_too_large(request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse(
        errors.envelope(request, 413, "PayloadTooLarge", "The request body is too large"), status_code=413
    )
