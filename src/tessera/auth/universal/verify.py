"""Pure Universal Auth decisions: lockout state and whether a matched client secret may be used."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tessera.clock import as_utc
from tessera.crypto.secrets_hash import hash_secret, verify_secret

PREFIX_LENGTH = 4


def secret_prefix(secret: str) -> str:
    return secret[:PREFIX_LENGTH]


def is_locked(lockout_enabled: bool, locked_until: datetime | None, now: datetime) -> bool:
    return lockout_enabled and locked_until is not None and as_utc(locked_until) > now


@dataclass(frozen=True, slots=True)
class SecretState:
    """The facts about a stored client secret that decide whether it may be used."""

    is_revoked: bool
    num_uses: int
    num_uses_limit: int
    expires_at: datetime | None


def secret_problem(state: SecretState, now: datetime) -> str | None:
    """Why a client secret that matched may not be used now, or None. Exhaustion is named as such."""
    exhausted = state.num_uses_limit > 0 and state.num_uses >= state.num_uses_limit
    if exhausted:
        return "client_secret_uses_exhausted"
    if state.is_revoked:
        return "client_secret_revoked"
    if state.expires_at is not None and as_utc(state.expires_at) <= now:
        return "client_secret_expired"
    return None


def match_secret(presented: str, stored_hashes: Iterable[tuple[str, str]], *, key: bytes) -> str | None:
    """The id of the stored secret whose keyed hash equals the presented secret's, or None.

    Every candidate is compared in constant time, and with no candidates one comparison against
    nothing is still made, so an unknown client id costs the same HMAC work as a wrong secret.
    """
    found: str | None = None
    compared = False
    for secret_id, stored in stored_hashes:
        compared = True
        if verify_secret(presented, stored, key=key) and found is None:
            found = secret_id
    if not compared:
        verify_secret(presented, None, key=key)
    return found


def hash_new_secret(secret: str, *, key: bytes) -> str:
    return hash_secret(secret, key=key)
