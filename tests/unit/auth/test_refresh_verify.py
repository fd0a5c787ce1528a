"""Pure refresh-token handling: format and the exchange decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.auth.refresh.models import STATUS_ACTIVE, STATUS_REVOKED, STATUS_ROTATED
from tessera.auth.refresh.verify import (
    RefreshState,
    format_refresh_token,
    parse_refresh_token,
    refresh_problem,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ID = "0b9e2c52-2f3c-4d7e-9a0e-1d2c3b4a5f60"
SECRET = "ab" * 32


def test_round_trip() -> None:
    assert parse_refresh_token(format_refresh_token(ID, SECRET)) == (ID, SECRET)
    assert parse_refresh_token(f"  {ID}.{SECRET}\n") == (ID, SECRET)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        SECRET,
        f"{ID}{SECRET}",
        f".{SECRET}",
        f"{ID}.",
        f"{ID}.{SECRET[:-1]}",
        f"{ID}.{SECRET}0",
        f"{ID}.{SECRET.upper()}",
        f"{ID}.{'zz' * 32}",
        f"{'x' * 37}.{SECRET}",
    ],
    ids=[
        "empty",
        "no-id",
        "no-dot",
        "empty-id",
        "empty-secret",
        "short",
        "long",
        "upper-hex",
        "not-hex",
        "long-id",
    ],
)
def test_malformed_tokens_are_rejected(raw: str) -> None:
    assert parse_refresh_token(raw) is None


@pytest.mark.parametrize(
    ("status", "expires_at", "expected"),
    [
        (STATUS_ACTIVE, None, None),
        (STATUS_ACTIVE, NOW + timedelta(seconds=1), None),
        (STATUS_ACTIVE, NOW, "credential_expired"),
        (STATUS_ROTATED, None, "refresh_token_reused"),
        (STATUS_ROTATED, NOW - timedelta(days=1), "refresh_token_reused"),
        (STATUS_REVOKED, None, "refresh_token_revoked"),
    ],
    ids=["active", "not-yet-expired", "expired", "rotated-out", "rotated-out-and-expired", "revoked"],
)
def test_refresh_problem(status: str, expires_at: datetime | None, expected: str | None) -> None:
    assert refresh_problem(RefreshState(status, expires_at), NOW) == expected
