"""A stand-in for Microsoft Entra ID on 127.0.0.1, so Azure Auth tests never leave the machine.

It serves, for any tenant, the OpenID configuration (v1 and v2) and the key documents at
`/{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`, with RSA keys the test creates.
Like the real service it publishes the same keys for every tenant, so "signed by a published
key but for another tenant" can be tested. Tests can rotate keys, take the service down
(connection refused), make it answer 500 / HTML / oversized / redirects, slow it down or hold
requests at a gate, and count how many key fetches arrived.

It also mints tokens shaped like managed-identity access tokens (v1 and v2).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

V1_ISSUER_HOST = "https://sts.windows.net"
V2_ISSUER_HOST = "https://login.microsoftonline.com"
ARM = "https://management.azure.com/"
_ROUTE = re.compile(
    r"^/(?P<tenant>[^/]+)/(?P<doc>v2\.0/\.well-known/openid-configuration|\.well-known/openid-configuration"
    r"|discovery/v2\.0/keys|discovery/keys)$"
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None, bits: int = 2048) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return cls(kid=kid or f"kid-{uuid.uuid4().hex[:12]}", private_key=key)

    def jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int_b64(numbers.n),
            "e": _int_b64(numbers.e),
        }

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="RS256",
            headers={"kid": self.kid, "x5t": self.kid, **(headers or {})},
        )


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A token with exactly this header and payload (for alg/header attacks)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


def token_claims(
    *,
    tenant: str,
    oid: str,
    now: datetime,
    version: str = "1.0",
    audience: str | list[str] = ARM,
    client_id: str | None = None,
    lifetime: int = 3600,
    **extra: Any,
) -> dict[str, Any]:
    """Claims shaped like Entra's managed-identity access tokens; `extra` overrides or adds.

    Pass a claim as None in `extra` to remove it.
    """
    stamp = int(now.timestamp())
    client = client_id or str(uuid.uuid4())
    claims: dict[str, Any] = {
        "aud": audience,
        "iat": stamp - 60,
        "nbf": stamp - 60,
        "exp": stamp + lifetime,
        "aio": "E2ZgYJg",
        "idp": f"{V1_ISSUER_HOST}/{tenant}/",
        "oid": oid,
        "rh": "0.AAAA",
        "sub": oid,
        "tid": tenant,
        "uti": b64url(uuid.uuid4().bytes)[:22],
        "ver": version,
        "xms_mirid": (
            f"/subscriptions/{uuid.UUID(int=1)}/resourcegroups/rg-app/providers/"
            "Microsoft.Compute/virtualMachines/vm-1"
        ),
    }
    if version == "1.0":
        claims.update(iss=f"{V1_ISSUER_HOST}/{tenant}/", appid=client, appidacr="2")
    else:
        claims.update(iss=f"{V2_ISSUER_HOST}/{tenant}/v2.0", azp=client, azpacr="2")
    for name, value in extra.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


@dataclass
class FakeEntra:
    keys: list[SigningKey] = field(default_factory=list)
    mode: str = "ok"  # ok | error | html | huge | redirect | empty
    delay: float = 0.0
    gate: threading.Event | None = None
    requests: list[str] = field(default_factory=list)
    request_headers: list[dict[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeEntra:
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def outage(self) -> None:
        """Nothing listens on the port any more: connections are refused."""
        self.stop()

    def restore(self) -> None:
        """Listen again on the same port after an outage."""
        if self._server is None:
            self.start()

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # --- keys ---------------------------------------------------------------------------------

    def new_key(self, *, publish: bool = True, kid: str | None = None) -> SigningKey:
        key = SigningKey.generate(kid)
        if publish:
            self.publish(key)
        return key

    def publish(self, key: SigningKey) -> None:
        with self._lock:
            self.keys.append(key)

    def withdraw(self, key: SigningKey) -> None:
        with self._lock:
            self.keys = [k for k in self.keys if k.kid != key.kid]

    def rotate(self) -> SigningKey:
        """Publish a new key and withdraw all older ones."""
        key = SigningKey.generate()
        with self._lock:
            self.keys = [key]
        return key

    def key_fetches(self, tenant: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for path in self.requests
                if "/discovery/" in path and (tenant is None or path.startswith(f"/{tenant}/"))
            )

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    @contextmanager
    def held(self) -> Iterator[threading.Event]:
        """Hold every request until the yielded event is set (or the block ends)."""
        gate = threading.Event()
        self.gate = gate
        try:
            yield gate
        finally:
            gate.set()
            self.gate = None

    # --- serving ------------------------------------------------------------------------------

    def _document(self, tenant: str, doc: str) -> dict[str, Any]:
        if doc.endswith("openid-configuration"):
            v2 = doc.startswith("v2.0")
            return {
                "issuer": f"{V2_ISSUER_HOST}/{tenant}/v2.0" if v2 else f"{V1_ISSUER_HOST}/{tenant}/",
                "jwks_uri": f"{self.authority}/{tenant}/discovery/{'v2.0/' if v2 else ''}keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        with self._lock:
            return {"keys": [key.jwk() for key in self.keys]}

    def respond(self, path: str, headers: dict[str, str]) -> tuple[int, str, bytes, dict[str, str]]:
        with self._lock:
            self.requests.append(path)
            self.request_headers.append(headers)
        gate = self.gate
        if gate is not None:
            gate.wait(30)
        if self.delay:
            time.sleep(self.delay)
        if self.mode == "error":
            return 500, "application/json", b'{"error":"server_error"}', {}
        if self.mode == "html":
            return 200, "text/html", b"<html><body>Sign in</body></html>", {}
        if self.mode == "huge":
            return 200, "application/json", b'{"keys":[' + b'{"kty":"oct"},' * 200_000 + b"{}]}", {}
        if self.mode == "redirect":
            return 302, "text/plain", b"", {"Location": f"{self.authority}/elsewhere/discovery/v2.0/keys"}
        if self.mode == "empty":
            return 200, "application/json", b'{"keys":[]}', {}
        match = _ROUTE.match(path.split("?", maxsplit=1)[0])
        if match is None:
            return 404, "application/json", b'{"error":"not_found"}', {}
        body = json.dumps(self._document(match["tenant"], match["doc"])).encode()
        return 200, "application/json", body, {}


def _handler(fake: FakeEntra) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body, headers = fake.respond(self.path, dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            # The client may give up first (timeout or size cap): expected in those tests.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
