"""The HTTP edge of rate limiting: a pure ASGI middleware in front of the routes.

It runs before any dependency, so a refused request never reaches authentication (which would
consume one of the token's uses) or the login service (which would count a failed login). The
identity of a secrets request is read from its access token's verified claims; that of a login
from the body field naming the client or identity. Answers use the one error mapping
(`tessera.api.errors`), so a 429 carries the Infisical envelope and Retry-After.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.routing import BaseRoute, Router

from tessera.api import errors
from tessera.api.middleware import ASGIApp, BodyTooLarge, Message, Receive, Scope, Send, send_error
from tessera.auth.tokens import parse_bearer
from tessera.crypto.access_tokens import decode_access_token
from tessera.errors import ServiceUnavailable, TesseraError
from tessera.observability.middleware import flat_routes, route_for
from tessera.ratelimit.limiter import EXTRAS_KEY, Limiter, build_limiter
from tessera.ratelimit.rules import Group, Rule, classify, ip_subject, is_limited_route, login_subject

if TYPE_CHECKING:
    from tessera.api.deps import AppContext

logger = logging.getLogger("tessera.ratelimit")


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, context: AppContext, limiter: Limiter, router: Router) -> None:
        self.app = app
        self.context = context
        self.limiter = limiter
        self.router = router  # only to label refusals with their route template
        self._limited_routes: list[BaseRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        group = classify(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        rules = self.limiter.rules.get(group) if group is not None else None
        if group is None or rules is None or not rules.active:
            await self.app(scope, receive, send)
            return
        state = scope.get("state", {})
        hits: list[tuple[Rule, str]] = []
        if rules.per_ip is not None:
            hits.append((rules.per_ip, ip_subject(state.get("client_ip"))))
        if rules.per_identity is not None:
            if group is Group.login:
                try:
                    body = await _read_body(receive)
                except BodyTooLarge:
                    message = "The request body is too large"
                    await send_error(send, 413, "PayloadTooLarge", message, str(state.get("request_id", "")))
                    return
                receive = _replay(body, receive)
                subject = login_subject(scope["path"], _json(body))
            else:
                subject = self._token_identity(scope)
            if subject is not None:
                hits.append((rules.per_identity, subject))
        refusal = await self._check(hits)
        if refusal is not None:
            self._label_route(scope)
            response = await errors.handle_tessera_error(Request(scope), refusal)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check(self, hits: list[tuple[Rule, str]]) -> TesseraError | None:
        now = self.context.clock.now()
        try:
            await anyio.to_thread.run_sync(self.limiter.check, hits, now)
        except TesseraError as exc:
            return exc
        except (DBAPIError, PoolTimeout) as exc:
            # No store can count the request: refuse it rather than let it through unlimited.
            logger.error("rate-limit store unavailable: %s", type(exc).__name__)
            return ServiceUnavailable(reason="rate_limit_store_unavailable", headers={"Retry-After": "1"})
        return None

    def _label_route(self, scope: Scope) -> None:
        """Record the route a refused request was for, as the router would have.

        The router is what records a request's route, and a refusal never reaches it; without
        this every 429 would be counted and logged as "unmatched", and the refusals of one route
        could not be told from another's. Only the routes this middleware can refuse are searched
        (built on first use: the app's routes are complete by then), so a flood of refusals costs
        little.
        """
        if self._limited_routes is None:
            self._limited_routes = [
                route
                for route in flat_routes(self.router.routes)
                if is_limited_route(getattr(route, "path", ""))
            ]
        route = route_for(scope, self._limited_routes)
        if route is not None:
            scope["route"] = route

    def _token_identity(self, scope: Scope) -> str | None:
        """The identity in a validly signed access token, or None (authentication will refuse it)."""
        raw = parse_bearer(_header(scope, b"authorization"))
        if raw is None:
            return None
        context = self.context
        try:
            claims = decode_access_token(raw, secret=context.signing_secret, now=context.clock.now())
        except TesseraError:
            return None
        return claims.identity_id


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _read_body(receive: Receive) -> bytes:
    # The outer middleware already enforces the body size limit on this channel.
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return None  # the route answers the malformed body itself


def install(app: FastAPI, context: AppContext) -> None:
    """Build the limiter into `context.extras` and put the middleware in front of the routes.

    Called by `create_app` before the concurrency limit is added, so that the limiter's
    database or Redis call is one of the requests in flight it bounds.
    """
    limiter = build_limiter(context)
    context.extras[EXTRAS_KEY] = limiter
    app.add_middleware(RateLimitMiddleware, context=context, limiter=limiter, router=app.router)
