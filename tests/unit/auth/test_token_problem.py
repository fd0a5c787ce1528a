"""`token_problem`: the pure per-request check of a token's facts (the query only loads them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tessera.auth.tokens import TokenFacts, token_problem

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
USABLE = TokenFacts(
    token_id="t",
    identity_id="i",
    org_id="o",
    auth_method="universal-auth",
    is_revoked=False,
    num_uses=3,
    num_uses_limit=0,
    expires_at=NOW + timedelta(minutes=5),
    token_version=2,
    trusted_ips=[],
    identity_active=True,
    identity_expires_at=None,
    identity_token_version=2,
)


def test_a_usable_token_has_no_problem() -> None:
    assert token_problem(USABLE, NOW) is None
    assert token_problem(replace(USABLE, expires_at=None), NOW) is None  # no TTL: never expires
    assert token_problem(replace(USABLE, expires_at=NOW), NOW) is None  # expires after this instant


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"is_revoked": True}, "token_revoked"),
        ({"identity_active": False}, "identity_disabled"),
        ({"identity_expires_at": NOW}, "identity_expired"),
        ({"token_version": 1}, "token_version_stale"),
        ({"num_uses": 5, "num_uses_limit": 5}, "uses_exhausted"),
        ({"expires_at": NOW - timedelta(seconds=1)}, "ttl_expired"),
    ],
)
def test_each_problem_is_named(change: dict[str, object], reason: str) -> None:
    assert token_problem(replace(USABLE, **change), NOW) == reason  # type: ignore[arg-type]


def test_revocation_is_reported_before_anything_else() -> None:
    everything_wrong = replace(
        USABLE, is_revoked=True, identity_active=False, token_version=1, expires_at=NOW - timedelta(days=1)
    )
    assert token_problem(everything_wrong, NOW) == "token_revoked"


def test_uses_below_the_limit_are_fine() -> None:
    assert token_problem(replace(USABLE, num_uses=4, num_uses_limit=5), NOW) is None
