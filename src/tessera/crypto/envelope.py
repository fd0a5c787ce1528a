"""AES-256-GCM sealing with associated data: the only module that calls the AEAD primitive.

Pure functions: keys, plaintext and associated data come in as parameters. A sealed blob is
`version (1 byte) || nonce (12 bytes) || ciphertext+tag`. The associated data is authenticated
but not stored, so a blob only opens in the context it was sealed for (project, environment,
path, name…); a blob copied anywhere else fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.errors import DecryptionFailed

FORMAT_VERSION = b"\x01"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_SIZES = frozenset({16, 32})  # AES-128 for KMS keys that ask for it; AES-256 everywhere else
OVERHEAD = len(FORMAT_VERSION) + NONCE_BYTES + TAG_BYTES


def bind(*parts: str) -> bytes:
    """Associated data from context values, length-prefixed so that no two contexts collide.

    Plain joining with a separator would let ("a|b", "c") and ("a", "b|c") produce the same bytes.
    """
    out = bytearray()
    for part in parts:
        encoded = part.encode()
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


def _cipher(key: bytes) -> AESGCM:
    if len(key) not in KEY_SIZES:
        raise ValueError("AES-GCM keys are 16 or 32 bytes")
    return AESGCM(key)


def seal(plaintext: bytes, key: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate `plaintext` under `key`, bound to `aad`."""
    # A random 96-bit nonce per message: safe far beyond the number of writes one key will see.
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_VERSION + nonce + _cipher(key).encrypt(nonce, plaintext, aad)


def unseal(blob: bytes, key: bytes, aad: bytes, *, what: str = "data") -> bytes:
    """Open a blob made by `seal`.

    Raises:
        DecryptionFailed: the blob is malformed, was tampered with, was sealed under another key,
            or belongs to another context (`aad`). The message names `what`, never any content.
    """
    if len(blob) < OVERHEAD or blob[:1] != FORMAT_VERSION:
        raise DecryptionFailed(f"Stored {what} is malformed and could not be decrypted", reason="bad_format")
    nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return _cipher(key).decrypt(nonce, body, aad)
    except InvalidTag as exc:
        raise DecryptionFailed(
            f"Stored {what} failed its integrity check: it was modified, moved to another "
            "location, or sealed under a different key",
            reason="bad_tag",
        ) from exc


def random_key(size: int = 32) -> bytes:
    return os.urandom(size)
