"""Pure helpers that turn values into text for people (used as template filters)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tessera.clock import as_utc

_UNITS = ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second"))
DASH = "—"


def when(value: datetime | None) -> str:
    """`2030-01-31 14:05 UTC`, or a dash when there is no time."""
    if value is None:
        return DASH
    return as_utc(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    return "" if value is None else as_utc(value).astimezone(UTC).isoformat()


def duration(seconds: int | None, *, zero: str = "no limit") -> str:
    """2592000 → `30 days`; 0 → the meaning of zero for that field."""
    if seconds is None:
        return DASH
    if seconds == 0:
        return zero
    parts = []
    remaining = seconds
    for size, name in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def uses(count: int, limit: int) -> str:
    return f"{count} of {limit}" if limit > 0 else f"{count} (no limit)"


def short_id(value: str | None) -> str:
    return DASH if not value else value[:8]


FILTERS: dict[str, Callable[..., Any]] = {
    "when": when,
    "iso": iso,
    "duration": duration,
    "uses": uses,
    "short_id": short_id,
}


def cidr(entry: dict[str, Any]) -> str:
    """A stored trusted-IP entry as people write it: `10.0.0.0/8`, or a bare address."""
    prefix = entry.get("prefix")
    return f"{entry.get('ipAddress', '')}/{prefix}" if prefix is not None else str(entry.get("ipAddress", ""))


def cidrs(entries: list[dict[str, Any]]) -> str:
    return ", ".join(cidr(entry) for entry in entries)


FILTERS["cidrs"] = cidrs
