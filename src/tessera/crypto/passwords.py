"""Passwords of people (console sign-in): argon2id, the slow hash meant for low-entropy secrets."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# Verifying against this when the user does not exist keeps the timing of "no such user" and
# "wrong password" alike.
_DUMMY_HASH = _hasher.hash("tessera-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
