"""AES-256-GCM sealing: round trips, and every kind of misuse fails with DecryptionFailed."""

from __future__ import annotations

import pytest

from tessera.crypto.envelope import OVERHEAD, bind, random_key, seal, unseal
from tessera.errors import DecryptionFailed

KEY = bytes(range(32))
AAD = bind("project", "env", "/path", "index")
PLAINTEXT = b"top secret value"


def test_round_trip_and_fresh_nonce_each_time() -> None:
    first, second = seal(PLAINTEXT, KEY, AAD), seal(PLAINTEXT, KEY, AAD)
    assert first != second
    assert unseal(first, KEY, AAD) == unseal(second, KEY, AAD) == PLAINTEXT
    assert len(first) == len(PLAINTEXT) + OVERHEAD
    assert PLAINTEXT not in first


def test_aes_128_keys_work_for_kms_keys() -> None:
    key = random_key(16)
    assert unseal(seal(b"x", key, b""), key, b"") == b"x"


@pytest.mark.parametrize("size", [0, 15, 24, 31, 33])
def test_wrong_key_sizes_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match="16 or 32"):
        seal(b"x", b"k" * size, b"")


@pytest.mark.parametrize(
    "position",
    [0, 1, 12, 13, -17, -1],
    ids=["version", "nonce-start", "nonce-end", "ciphertext", "tag-start", "tag-end"],
)
def test_any_flipped_byte_fails(position: int) -> None:
    blob = bytearray(seal(PLAINTEXT, KEY, AAD))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionFailed) as caught:
        unseal(bytes(blob), KEY, AAD, what="secret")
    assert "secret" in caught.value.message
    assert PLAINTEXT.decode() not in caught.value.message


@pytest.mark.parametrize(
    ("key", "aad"),
    [(bytes(32), AAD), (KEY, bind("project", "env", "/other", "index")), (KEY, b"")],
    ids=["other-key", "other-context", "no-context"],
)
def test_other_key_or_context_fails(key: bytes, aad: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        unseal(seal(PLAINTEXT, KEY, AAD), key, aad)


@pytest.mark.parametrize(
    "blob", [b"", b"\x01", b"\x02" + bytes(40)], ids=["empty", "short", "unknown-version"]
)
def test_malformed_blobs_fail(blob: bytes) -> None:
    with pytest.raises(DecryptionFailed, match="malformed"):
        unseal(blob, KEY, AAD)


def test_bind_is_unambiguous() -> None:
    assert bind("a|b", "c") != bind("a", "b|c")
    assert bind("ab", "") != bind("a", "b")
    assert bind("x") != bind("x", "")
