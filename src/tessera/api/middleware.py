"""Pure ASGI middleware for transport compatibility: request ids, client IP, trailing slashes,
form-encoded bodies and a body size limit. Pure ASGI (not BaseHTTPMiddleware) keeps it cheap."""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from tessera.auth.client_ip import resolve_client_ip
from tessera.auth.trusted_ips import IPNetwork

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ALPHABET = string.ascii_letters + string.digits
FORM_CONTENT_TYPE = b"application/x-www-form-urlencoded"


def new_request_id() -> str:
    """Infisical's shape: `req-` and 14 alphanumerics.

    One read of the system's random source rather than one per character (a syscall each). The
    modulo leaves a slight bias towards the first letters, which is harmless: an id names a
    request in logs, it grants nothing.
    """
    return "req-" + "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in secrets.token_bytes(14))


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


class BodyTooLarge(Exception):
    pass


class CompatMiddleware:
    def __init__(self, app: ASGIApp, *, trusted_proxies: tuple[IPNetwork, ...], max_body_bytes: int) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        incoming_id = (_header(scope, b"x-request-id") or b"").decode("latin-1")
        # Accept a caller's id only when it is short and plain, so logs cannot be injected into.
        state["request_id"] = incoming_id if _safe_request_id(incoming_id) else new_request_id()
        client = scope.get("client")
        peer = str(client[0]) if client else None
        forwarded = _header(scope, b"x-forwarded-for")
        state["client_ip"] = resolve_client_ip(
            peer, forwarded.decode("latin-1") if forwarded else None, self.trusted_proxies
        )
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope["path"] = path.rstrip("/") or "/"
            scope["raw_path"] = scope["path"].encode()
        send = self._with_request_id(send, state["request_id"])
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_error(
                send, 413, "PayloadTooLarge", "The request body is too large", state["request_id"]
            )
            return
        content_type = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if content_type == FORM_CONTENT_TYPE and scope["path"].startswith("/api/"):
            await self._form_as_json(scope, receive, send, state["request_id"])
            return
        if declared is None and _header(scope, b"transfer-encoding") is not None:
            # A chunked body declares no size, so read it here, up to the limit: an over-limit
            # error raised inside the app would be reported by the framework as a 400 parse error.
            body = await self._read_body(receive)
            if body is None:
                await send_error(
                    send, 413, "PayloadTooLarge", "The request body is too large", state["request_id"]
                )
                return
            receive = _replay(body, receive)
        await self.app(scope, self._limited(receive), send)

    @staticmethod
    def _with_request_id(send: Send, request_id: str) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        return wrapped

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def wrapped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        return wrapped

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole request body, or None as soon as it grows past the limit."""
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                return None
        return body

    async def _form_as_json(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        """Legacy SDKs post logins form-encoded; re-present the body as JSON so one schema serves both."""
        body = await self._read_body(receive)
        if body is None:
            await send_error(send, 413, "PayloadTooLarge", "The request body is too large", request_id)
            return
        fields = parse_form(body)
        if fields is None:
            await send_error(send, 400, "BadRequest", "The form-encoded body is malformed", request_id)
            return
        payload = json.dumps(fields).encode()
        drop = (b"content-type", b"content-length", b"transfer-encoding")
        headers = [(k, v) for k, v in scope["headers"] if k not in drop]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        scope["headers"] = headers
        await self.app(scope, _replay(payload, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands over an already-read body, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


MAX_REQUEST_ID = 32  # the width of audit_events.request_id; a longer id would fail every audited request


_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def parse_form(body: bytes) -> dict[str, str] | None:
    """Decode a form body strictly: None for bad escapes, invalid UTF-8 or a repeated field.

    A repeated field is refused rather than resolved, so that no layer can read a different
    value of it than the one that was checked.
    """
    if _BAD_ESCAPE.search(body):
        return None
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    fields = dict(pairs)
    return fields if len(fields) == len(pairs) else None


def _safe_request_id(value: str) -> bool:
    return 0 < len(value) <= MAX_REQUEST_ID and all(c in _ALPHABET or c in "-_." for c in value)


async def send_error(send: Send, status: int, error: str, message: str, request_id: str) -> None:
    """Answer from the middleware itself, in the same envelope the exception handlers use."""
    body = json.dumps(
        {"reqId": request_id, "statusCode": status, "message": message, "error": error}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
