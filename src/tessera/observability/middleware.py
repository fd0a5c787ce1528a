"""Pure ASGI middleware: after each HTTP request, one metrics observation and one log line.

It is the outermost layer, so it also sees answers the transport middleware gives by itself
(413, malformed forms) and the 500s of unhandled errors. The route label is the matched route's
template, read from the scope after the app ran; the identity id is what authentication left in
the request state. Nothing from headers, the query or the body is read here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import fastapi.routing
from starlette.routing import BaseRoute, Match

from tessera.api.middleware import ASGIApp, Message, Receive, Scope, Send
from tessera.observability.logging import log_request
from tessera.observability.metrics import UNMATCHED_ROUTE, Metrics

IDENTITY_STATE_KEY = "identity_id"  # request.state.identity_id, set when a bearer token is accepted
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


def flat_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """Every endpoint route in the router's order, with included routers opened up.

    FastAPI from 0.16x keeps `include_router`'s routers as single entries of `app.router.routes`
    (listed by `iter_route_contexts`); older versions copy their routes in, already flat.
    """
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        return list(routes)
    return [context.original_route for context in iterate(routes)]


def route_for(scope: Scope, routes: Sequence[BaseRoute]) -> BaseRoute | None:
    """The route the router would choose: the first full match, else the first partial one (a
    method the route does not take), else None."""
    partial: BaseRoute | None = None
    for route in routes:
        match, _child = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Callable[[], Metrics]) -> None:
        self.app = app
        self.metrics = metrics  # looked up per request: the app's caches may be reset while it runs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        metrics = self.metrics()  # before the app runs, so the request's own code finds it too
        status = 500  # what the client sees when the app fails before answering

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            self._record(metrics, scope, status, time.perf_counter() - started)

    def _record(self, metrics: Metrics, scope: Scope, status: int, seconds: float) -> None:
        method = scope.get("method", "")
        method = method if method in _METHODS else "OTHER"
        route = route_template(scope)
        metrics.observe_request(method, route, status, seconds)
        state = scope.get("state") or {}
        log_request(
            request_id=state.get("request_id"),
            method=method,
            route=route,
            status=status,
            duration_ms=seconds * 1000,
            identity_id=state.get(IDENTITY_STATE_KEY),
        )
