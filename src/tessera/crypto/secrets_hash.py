"""High-entropy credentials (client secrets, refresh tokens): keyed HMAC-SHA256, constant-time compare.

These secrets are 256-bit random values, so a slow password hash adds latency without adding
security; an HMAC keyed with a server secret also means a stolen database alone cannot be used
to test guesses offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def generate_secret(nbytes: int = 32) -> str:
    return secrets.token_hex(nbytes)


def hash_secret(secret: str, *, key: bytes) -> str:
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def verify_secret(secret: str, expected_hash: str | None, *, key: bytes) -> bool:
    # Always compute and compare, even when nothing was found, so both paths cost the same.
    candidate = hash_secret(secret, key=key)
    return hmac.compare_digest(candidate, expected_hash or "0" * 64) and expected_hash is not None


def derive_key(master: bytes, purpose: str) -> bytes:
    """A separate key per purpose, so one leaked derived key says nothing about the others."""
    return hmac.new(master, b"tessera:" + purpose.encode(), hashlib.sha256).digest()
