"""Pure Universal Auth decisions: which secret matched, whether it may be used, lockout state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.auth.universal import verify
from tessera.auth.universal.verify import SecretState, is_locked, match_secret, secret_problem
from tessera.crypto.secrets_hash import hash_secret

KEY = b"k" * 32
NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (SecretState(False, 0, 0, None), None),
        (SecretState(False, 4, 5, NOW + timedelta(seconds=1)), None),
        (SecretState(True, 0, 0, None), "client_secret_revoked"),
        (SecretState(False, 5, 5, None), "client_secret_uses_exhausted"),
        (SecretState(True, 5, 5, None), "client_secret_uses_exhausted"),
        (SecretState(False, 0, 0, NOW), "client_secret_expired"),
        (
            SecretState(False, 0, 0, (NOW - timedelta(seconds=1)).replace(tzinfo=None)),
            "client_secret_expired",
        ),
    ],
    ids=[
        "fresh",
        "within-limits",
        "revoked",
        "exhausted",
        "exhausted-and-revoked",
        "expires-now",
        "expired-naive",
    ],
)
def test_secret_problem(state: SecretState, expected: str | None) -> None:
    assert secret_problem(state, NOW) == expected


@pytest.mark.parametrize(
    ("enabled", "until", "expected"),
    [
        (True, None, False),
        (True, NOW + timedelta(seconds=1), True),
        (True, NOW, False),
        (False, NOW + timedelta(seconds=100), False),
    ],
    ids=["never-locked", "locked", "lock-just-ended", "lockout-disabled"],
)
def test_is_locked(enabled: bool, until: datetime | None, expected: bool) -> None:
    assert is_locked(enabled, until, NOW) is expected


def test_match_secret_finds_the_matching_candidate() -> None:
    candidates = [("a", hash_secret("one", key=KEY)), ("b", hash_secret("two", key=KEY))]
    assert match_secret("two", candidates, key=KEY) == "b"
    assert match_secret("three", candidates, key=KEY) is None
    assert match_secret("two", candidates, key=b"x" * 32) is None


def test_match_secret_hashes_even_without_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown client id must cost the same HMAC work as a wrong secret (timing)."""
    calls: list[str | None] = []
    real = verify.verify_secret

    def counting(secret: str, expected: str | None, *, key: bytes) -> bool:
        calls.append(expected)
        return real(secret, expected, key=key)

    monkeypatch.setattr(verify, "verify_secret", counting)
    assert match_secret("anything", [], key=KEY) is None
    assert calls == [None]


def test_prefix_is_four_characters() -> None:
    assert verify.secret_prefix("abcdef") == "abcd"
