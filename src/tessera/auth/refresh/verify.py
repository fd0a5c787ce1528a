"""Pure refresh-token handling: the token's format and whether a presented token may be exchanged."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime

from tessera.auth.refresh.models import STATUS_ACTIVE, STATUS_ROTATED
from tessera.clock import as_utc

SECRET_HEX_LENGTH = 64
_HEX = frozenset(string.hexdigits.lower())


def format_refresh_token(token_id: str, secret: str) -> str:
    """`<row id>.<64 hex>`: the id finds the row; only the secret part is hashed and compared."""
    return f"{token_id}.{secret}"


def parse_refresh_token(raw: str) -> tuple[str, str] | None:
    token_id, dot, secret = raw.strip().partition(".")
    if not dot or not token_id or len(token_id) > 36:
        return None
    if len(secret) != SECRET_HEX_LENGTH or not set(secret) <= _HEX:
        return None
    return token_id, secret


@dataclass(frozen=True, slots=True)
class RefreshState:
    status: str
    credential_expires_at: datetime | None


def refresh_problem(state: RefreshState, now: datetime) -> str | None:
    """Why a refresh token whose secret matched may not be exchanged, or None.

    A rotated-out token is named separately: its reappearance means someone kept a copy.
    """
    if state.status == STATUS_ROTATED:
        return "refresh_token_reused"
    if state.status != STATUS_ACTIVE:
        return "refresh_token_revoked"
    if state.credential_expires_at is not None and as_utc(state.credential_expires_at) <= now:
        return "credential_expired"
    return None
