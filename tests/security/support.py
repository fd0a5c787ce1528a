"""Helpers for the security suite: counting rows, the "nothing lost" checks, raw HTTP to a real server."""

from __future__ import annotations

import socket
from typing import Any

from sqlalchemy import func, select

from tessera.audit.models import AuditEvent
from tessera.auth.universal.models import IdentityUAClientSecret
from tessera.identities.models import IdentityAccessToken
from tests.factories_auth import session_of

# Headers that legitimately differ between two otherwise identical answers.
VOLATILE_HEADERS = {"x-request-id", "date", "server"}


def count_rows(app: Any, model: Any, *conditions: Any) -> int:
    with session_of(app) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def token_count(app: Any) -> int:
    return count_rows(app, IdentityAccessToken)


def secret_uses(app: Any, client_secret_id: str) -> int:
    with session_of(app) as session:
        secret = session.get(IdentityUAClientSecret, client_secret_id)
        assert secret is not None
        return int(secret.num_uses)


def same_answer(first: Any, second: Any) -> None:
    """Byte-identical status, body (less the request id) and headers (less volatile ones)."""
    assert first.status_code == second.status_code
    one, two = dict(first.json()), dict(second.json())
    one.pop("reqId", None)
    two.pop("reqId", None)
    assert one == two
    headers_one = {k.lower(): v for k, v in first.headers.items() if k.lower() not in VOLATILE_HEADERS}
    headers_two = {k.lower(): v for k, v in second.headers.items() if k.lower() not in VOLATILE_HEADERS}
    assert headers_one == headers_two


def audit_text(app: Any) -> str:
    """Every audit record flattened to text, for canary scans."""
    with session_of(app) as session:
        rows = list(session.scalars(select(AuditEvent)))
        return "\n".join(
            repr({c.name: getattr(row, c.name) for c in AuditEvent.__table__.columns}) for row in rows
        )


def raw_http(base: str, request: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes to the server at `base` and read until it closes or goes quiet."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except TimeoutError:
            pass
    return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


# For the few cases that send more logins than the shipped per-IP limit allows in a minute
# (timing statistics, key-id spraying): they test what they name, not the limiter.
NO_RATE_LIMITS = {
    "rate_limit_login_per_ip": "off",
    "rate_limit_login_per_identity": "off",
    "rate_limit_secrets_per_ip": "off",
    "rate_limit_secrets_per_identity": "off",
}
