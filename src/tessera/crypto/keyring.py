"""Root keys: seal with the newest, open with any configured one (the MultiFernet idea).

Each sealed item records the id of the root key that sealed it (a short hash of the key, which
says nothing about the key itself), so that opening picks the right key at once and rotation can
tell which items still need re-sealing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from tessera.crypto import envelope
from tessera.errors import DecryptionFailed
from tessera.settings import Settings

KEY_ID_CHARS = 16


def key_id(key: bytes) -> str:
    """A short, stable name for a root key: a domain-separated SHA-256, truncated."""
    return hashlib.sha256(b"tessera:root-key-id:" + key).hexdigest()[:KEY_ID_CHARS]


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    blob: bytes


class UnknownRootKey(DecryptionFailed):
    """An item is sealed under a root key that is not configured."""


class Keyring:
    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        if len(current) != 32 or any(len(k) != 32 for k in previous):
            raise ValueError("root keys are 32 bytes")
        self.current_id = key_id(current)
        self._keys: dict[str, bytes] = {key_id(k): k for k in previous}
        self._keys[self.current_id] = current

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        return cls(settings.root_key_bytes(), settings.previous_root_key_bytes())

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def seal(self, plaintext: bytes, aad: bytes) -> Sealed:
        return Sealed(self.current_id, envelope.seal(plaintext, self._keys[self.current_id], aad))

    def unseal(self, sealed: Sealed, aad: bytes, *, what: str = "key") -> bytes:
        """Raises UnknownRootKey or DecryptionFailed."""
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise UnknownRootKey(
                f"A stored {what} is sealed under root key {sealed.key_id}, which is not configured; "
                "set it as TESSERA_ROOT_KEY or list it in TESSERA_PREVIOUS_ROOT_KEYS",
                reason="unknown_root_key",
            )
        return envelope.unseal(sealed.blob, key, aad, what=what)
