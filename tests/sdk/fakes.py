"""Test doubles for the client side: a frozen clock, a request router that can be served either
through httpx.MockTransport or by a real HTTP server on 127.0.0.1, and an in-memory stand-in for
the Tessera API (enough of it for the SDK, CLI and agent tests)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx


class FrozenClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepRecorder:
    """Stands in for time.sleep: records the delays, optionally advancing a clock."""

    def __init__(self, clock: FrozenClock | None = None) -> None:
        self.delays: list[float] = []
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, bytes):
            return self.body, headers
        headers.setdefault("content-type", "application/json")
        return json.dumps(self.body).encode(), headers


Handler = Callable[[Call], Reply]


class Router:
    """Routes (method, path regex) → handler, recording every call. Unknown routes answer 404."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.insert(0, (method, re.compile(pattern + r"$"), handler))

    def on(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def dispatch(self, call: Call) -> Reply:
        with self._lock:
            self.calls.append(call)
        for method, pattern, handler in self.routes:
            if method == call.method and pattern.match(call.path):
                return handler(call)
        return Reply(404, {"message": f"Route {call.method}:{call.path} not found", "error": "NotFound"})

    def paths(self) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.calls]

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            call = Call(
                method=request.method,
                path=unquote(request.url.path),
                query=dict(parse_qsl(request.url.query.decode())),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.read(),
            )
            reply = self.dispatch(call)
            body, headers = reply.encoded()
            return httpx.Response(reply.status, content=body, headers=headers)

        return httpx.MockTransport(handle)


@contextmanager
def serve(router: Router) -> Iterator[str]:
    """Serve `router` on 127.0.0.1 (a real socket); yields the base URL."""

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            call = Call(
                method=self.command,
                path=unquote(parts.path),
                query=dict(parse_qsl(parts.query)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            reply = router.dispatch(call)
            body, headers = reply.encoded()
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- an in-memory Tessera ------------------------------------------------------------------------


@dataclass
class FakeSecret:
    value: str
    comment: str = ""
    version: int = 1


@dataclass
class FakeToken:
    identity: str
    issued_at: float
    ttl: int
    max_ttl: int
    renewed_at: float | None = None
    revoked: bool = False


class FakeTessera(Router):
    """Universal Auth, Azure Auth, renew/revoke, v4 secrets (with ETag) and v2 folders, in memory.

    Time comes from `clock` so TTLs can be tested without waiting."""

    def __init__(self, clock: FrozenClock | None = None, *, ttl: int = 3600, max_ttl: int = 86400) -> None:
        super().__init__()
        self.clock = clock or FrozenClock()
        self.ttl = ttl
        self.max_ttl = max_ttl
        self.clients: dict[str, str] = {}  # client id → secret
        self.azure: dict[str, str] = {}  # identity id → accepted Azure JWT
        self.refresh_tokens: dict[str, str] = {}  # live refresh token → identity id
        self.retired_refresh_tokens: set[str] = set()
        self.rotate_refresh_tokens = False
        self.tokens: dict[str, FakeToken] = {}
        self.secrets: dict[tuple[str, str, str], dict[str, FakeSecret]] = {}
        self.logins = 0
        self.renewals = 0
        # hold_logins = (n, seconds): each login waits until n logins have arrived or the time
        # is up, so that concurrent logins (a stampede) would all be seen.
        self.hold_logins: tuple[int, float] | None = None
        self.login_arrivals = 0
        self._arrived = threading.Condition()
        self._install()

    # helpers for tests
    def add_client(self, client_id: str = "client-1", secret: str = "s3cret") -> tuple[str, str]:  # noqa: S107
        self.clients[client_id] = secret
        return client_id, secret

    def put(self, project: str, env: str, path: str, key: str, value: str, comment: str = "") -> None:
        folder = self.secrets.setdefault((project, env, path), {})
        old = folder.get(key)
        folder[key] = FakeSecret(value, comment, (old.version + 1) if old else 1)

    def issue(self, identity: str = "identity-1") -> str:
        token = f"tok-{uuid.uuid4().hex}"
        self.tokens[token] = FakeToken(identity, self.clock(), self.ttl, self.max_ttl)
        return token

    def _grant(self, token: str) -> Reply:
        info = self.tokens[token]
        return Reply(
            200,
            {
                "accessToken": token,
                "expiresIn": info.ttl,
                "accessTokenMaxTTL": info.max_ttl,
                "tokenType": "Bearer",
            },
        )

    def _valid(self, token: str) -> FakeToken | None:
        info = self.tokens.get(token)
        if info is None or info.revoked:
            return None
        start = info.renewed_at if info.renewed_at is not None else info.issued_at
        if info.ttl and self.clock() > start + info.ttl:
            return None
        return info

    def _authed(self, call: Call) -> Reply | None:
        token = call.headers.get("authorization", "")[len("Bearer ") :]
        if self._valid(token) is None:
            return Reply(
                401,
                {
                    "reqId": "req-fake",
                    "statusCode": 401,
                    "message": "Token invalid",
                    "error": "UnauthorizedError",
                },
            )
        return None

    def _install(self) -> None:
        @self.on("POST", r"/api/v1/auth/universal-auth/login")
        def ua_login(call: Call) -> Reply:
            body = call.json() or {}
            if self.hold_logins is not None:
                count, seconds = self.hold_logins
                with self._arrived:
                    self.login_arrivals += 1
                    self._arrived.notify_all()
                    self._arrived.wait_for(lambda: self.login_arrivals >= count, timeout=seconds)
            if self.clients.get(body.get("clientId")) != body.get("clientSecret") or not body.get(
                "clientSecret"
            ):
                return Reply(
                    401,
                    {
                        "reqId": "req-login",
                        "statusCode": 401,
                        "message": "Invalid credentials",
                        "error": "UnauthorizedError",
                    },
                )
            self.logins += 1
            return self._grant(self.issue(body["clientId"]))

        @self.on("POST", r"/api/v1/auth/azure-auth/login")
        def azure_login(call: Call) -> Reply:
            body = call.json() or {}
            if self.azure.get(body.get("identityId")) != body.get("jwt"):
                return Reply(401, {"message": "Invalid credentials", "error": "UnauthorizedError"})
            self.logins += 1
            return self._grant(self.issue(body["identityId"]))

        @self.on("POST", r"/api/v1/auth/refresh-token-auth/login")
        def refresh_login(call: Call) -> Reply:
            presented = (call.json() or {}).get("refreshToken", "")
            identity = self.refresh_tokens.get(presented)
            if identity is None:
                if presented in self.retired_refresh_tokens:  # reuse: the whole family dies
                    self.refresh_tokens.clear()
                return Reply(401, {"message": "Invalid credentials", "error": "UnauthorizedError"})
            self.logins += 1
            reply = self._grant(self.issue(identity))
            if self.rotate_refresh_tokens:
                del self.refresh_tokens[presented]
                self.retired_refresh_tokens.add(presented)
                successor = f"rt-{uuid.uuid4().hex}"
                self.refresh_tokens[successor] = identity
                reply.body["refreshToken"] = successor
            return reply

        @self.on("POST", r"/api/v1/auth/token/renew")
        def renew(call: Call) -> Reply:
            token = (call.json() or {}).get("accessToken", "")
            info = self._valid(token)
            if info is None:
                return Reply(401, {"message": "No identity access token found", "error": "UnauthorizedError"})
            now = self.clock()
            if info.max_ttl and now + info.ttl > info.issued_at + info.max_ttl:
                del self.tokens[token]
                return Reply(401, {"message": "Failed to renew MI access token past its Max TTL expiration"})
            self.renewals += 1
            fresh = f"tok-{uuid.uuid4().hex}"
            self.tokens[fresh] = FakeToken(
                info.identity, info.issued_at, info.ttl, info.max_ttl, renewed_at=now
            )
            del self.tokens[token]
            return self._grant(fresh)

        @self.on("POST", r"/api/v1/auth/token/revoke")
        def revoke(call: Call) -> Reply:
            info = self.tokens.get((call.json() or {}).get("accessToken", ""))
            if info is None:
                return Reply(401, {"message": "No identity access token found"})
            info.revoked = True
            return Reply(200, {"message": "Successfully revoked access token"})

        @self.on("GET", r"/api/v4/secrets")
        def list_secrets(call: Call) -> Reply:
            denied = self._authed(call)
            if denied:
                return denied
            key = (call.query["projectId"], call.query["environment"], call.query.get("secretPath", "/"))
            items = [self._wire(key, name, s) for name, s in sorted(self.secrets.get(key, {}).items())]
            body = {"secrets": items, "imports": []}
            etag = '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:27] + '"'
            if call.headers.get("if-none-match") == etag:
                return Reply(304, None, {"etag": etag})
            return Reply(200, body, {"etag": etag})

        @self.on("GET", r"/api/v4/secrets/[^/]+")
        def get_secret(call: Call) -> Reply:
            denied = self._authed(call)
            if denied:
                return denied
            key = (call.query["projectId"], call.query["environment"], call.query.get("secretPath", "/"))
            name = call.path.rsplit("/", 1)[1]
            secret = self.secrets.get(key, {}).get(name)
            if secret is None:
                return Reply(
                    404,
                    {
                        "reqId": "req-404",
                        "statusCode": 404,
                        "message": "Secret not found",
                        "error": "NotFound",
                    },
                )
            return Reply(200, {"secret": self._wire(key, name, secret)})

        @self.on("POST", r"/api/v4/secrets/[^/]+")
        def create_secret(call: Call) -> Reply:
            denied = self._authed(call)
            if denied:
                return denied
            body = call.json()
            key = (body["projectId"], body["environment"], body.get("secretPath", "/"))
            name = call.path.rsplit("/", 1)[1]
            if name in self.secrets.get(key, {}):
                return Reply(400, {"message": "Secret already exist", "error": "BadRequest"})
            self.put(*key, name, body["secretValue"], body.get("secretComment", ""))
            return Reply(200, {"secret": self._wire(key, name, self.secrets[key][name])})

        @self.on("PATCH", r"/api/v4/secrets/[^/]+")
        def update_secret(call: Call) -> Reply:
            denied = self._authed(call)
            if denied:
                return denied
            body = call.json()
            key = (body["projectId"], body["environment"], body.get("secretPath", "/"))
            name = call.path.rsplit("/", 1)[1]
            secret = self.secrets.get(key, {}).get(name)
            if secret is None:
                return Reply(404, {"message": "Secret not found", "error": "NotFound"})
            self.put(
                *key, name, body.get("secretValue", secret.value), body.get("secretComment", secret.comment)
            )
            return Reply(200, {"secret": self._wire(key, name, self.secrets[key][name])})

        @self.on("DELETE", r"/api/v4/secrets/[^/]+")
        def delete_secret(call: Call) -> Reply:
            denied = self._authed(call)
            if denied:
                return denied
            body = call.json()
            key = (body["projectId"], body["environment"], body.get("secretPath", "/"))
            name = call.path.rsplit("/", 1)[1]
            secret = self.secrets.get(key, {}).pop(name, None)
            if secret is None:
                return Reply(404, {"message": "Secret not found", "error": "NotFound"})
            return Reply(200, {"secret": self._wire(key, name, secret)})

        @self.on("POST", r"/api/v1/kms/keys/[^/]+/encrypt")
        def encrypt(call: Call) -> Reply:
            denied = self._authed(call)
            if denied:
                return denied
            plain = base64.b64decode(call.json()["plaintext"])
            return Reply(200, {"ciphertext": base64.b64encode(b"ct:" + plain[::-1]).decode()})

        @self.on("POST", r"/api/v1/kms/keys/[^/]+/decrypt")
        def decrypt(call: Call) -> Reply:
            denied = self._authed(call)
            if denied:
                return denied
            raw = base64.b64decode(call.json()["ciphertext"])
            return Reply(200, {"plaintext": base64.b64encode(raw[3:][::-1]).decode()})

    @staticmethod
    def _wire(key: tuple[str, str, str], name: str, secret: FakeSecret) -> dict[str, Any]:
        ident = str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join((*key, name))))
        return {
            "id": ident,
            "_id": ident,
            "workspace": key[0],
            "environment": key[1],
            "secretPath": key[2],
            "version": secret.version,
            "type": "shared",
            "secretKey": name,
            "secretValue": secret.value,
            "secretValueHidden": False,
            "secretComment": secret.comment,
            "tags": [],
            "secretMetadata": [],
            "createdAt": "2030-01-01T00:00:00.000Z",
            "updatedAt": "2030-01-01T00:00:00.000Z",
        }
