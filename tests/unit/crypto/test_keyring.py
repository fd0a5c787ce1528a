"""Root keyring: seal with the newest key, open with any configured one, name unknown keys."""

from __future__ import annotations

import base64

import pytest

from tessera.crypto.keyring import Keyring, Sealed, UnknownRootKey, key_id
from tessera.errors import DecryptionFailed
from tests.conftest import make_settings

OLD, NEW = b"o" * 32, b"n" * 32


def test_key_id_is_short_stable_and_reveals_nothing() -> None:
    assert key_id(OLD) == key_id(OLD) != key_id(NEW)
    assert len(key_id(OLD)) == 16
    assert OLD.hex() not in key_id(OLD)


def test_seal_with_newest_open_with_any() -> None:
    before = Keyring(OLD).seal(b"data key", b"ctx")
    ring = Keyring(NEW, [OLD])
    after = ring.seal(b"data key", b"ctx")
    assert (before.key_id, after.key_id) == (key_id(OLD), key_id(NEW))
    assert ring.unseal(before, b"ctx") == ring.unseal(after, b"ctx") == b"data key"
    assert ring.key_ids == {key_id(OLD), key_id(NEW)}


def test_unknown_key_is_named_in_the_error() -> None:
    sealed = Keyring(OLD).seal(b"x", b"")
    with pytest.raises(UnknownRootKey) as caught:
        Keyring(NEW).unseal(sealed, b"")
    assert key_id(OLD) in caught.value.message


def test_a_forged_key_id_does_not_help() -> None:
    sealed = Keyring(OLD).seal(b"x", b"")
    with pytest.raises(DecryptionFailed):
        Keyring(NEW, [OLD]).unseal(Sealed(key_id(NEW), sealed.blob), b"")


def test_bad_key_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring(NEW, [b"short"])


def test_from_settings(tmp_path: object) -> None:
    settings = make_settings(
        "sqlite://",
        tmp_path,  # type: ignore[arg-type]
        root_key=base64.b64encode(NEW).decode(),
        previous_root_keys=base64.b64encode(OLD).decode(),
    )
    ring = Keyring.from_settings(settings)
    assert ring.current_id == key_id(NEW)
    assert ring.key_ids == {key_id(NEW), key_id(OLD)}
