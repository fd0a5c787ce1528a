"""CSRF protection for every console form: a synchronizer token bound to the browser's session.

The token is an HMAC of the session id (or, before sign-in, of a random pre-session cookie),
so it is unique per session, needs no storage, cannot be computed without the server key, and
says nothing about the session id itself. Every POST must carry it in the `csrf_token` form
field or the `X-CSRF-Token` header (htmx requests); a cross-site page can read neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from tessera.crypto.secrets_hash import derive_key

FIELD = "csrf_token"
HEADER = "x-csrf-token"
PRESESSION_COOKIE = "tessera_presession"
MAX_BINDING_LENGTH = 128


def csrf_key(signing_secret: bytes) -> bytes:
    return derive_key(signing_secret, "console-csrf")


def new_presession_id() -> str:
    return secrets.token_urlsafe(32)


def token_for(key: bytes, kind: str, binding: str) -> str:
    """The token for a session (`kind` "s") or a pre-session cookie (`kind` "a")."""
    return hmac.new(key, f"{kind}:{binding}".encode(), hashlib.sha256).hexdigest()


def is_valid(key: bytes, kind: str, binding: str | None, presented: str | None) -> bool:
    """Constant-time check; a missing binding or token is never valid."""
    if not binding or not presented or len(binding) > MAX_BINDING_LENGTH or len(presented) != 64:
        return False
    return hmac.compare_digest(token_for(key, kind, binding), presented)
