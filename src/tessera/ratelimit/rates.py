"""Pure rate arithmetic: parsing "100/60"-style settings and the token-bucket decision (GCRA).

The generic cell rate algorithm keeps one number per bucket, the theoretical arrival time
(TAT): the instant at which the bucket would be full again. A rate of `count` requests per
`period` has an emission interval T = period / count. A request at `now` fits when
`max(TAT, now) + T - period <= now`; it then moves the TAT to `max(TAT, now) + T`. That is a
token bucket of capacity `count` refilled one token every T, stored as a single value, which is
what lets the database and Redis backends apply it in one conditional statement.

What it promises: a burst of up to `count`, and between any two admitted requests at most
`count` plus one per elapsed interval (so `count` per period sustained; a full bucket plus one
period of refill, i.e. up to 2 * count - 1, in the worst single period).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_UNITS = {
    "": 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]*)\s*$")
_OFF = frozenset({"", "0", "off", "none", "disabled", "false"})
MAX_COUNT = 1_000_000
MAX_PERIOD_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` requests per `period_seconds` sustained, with bursts of up to `count`."""

    count: int
    period_seconds: int

    @property
    def period_ms(self) -> int:
        return self.period_seconds * 1000

    @property
    def interval_ms(self) -> int:
        # Rounded up, so the bucket never admits more than `count` per period.
        return max(1, math.ceil(self.period_ms / self.count))

    def __str__(self) -> str:
        return f"{self.count}/{self.period_seconds}s"


def parse_rate(value: str) -> Rate | None:
    """`"100/60"`, `"100/60s"`, `"100/minute"`, `"5/1h"` → Rate; `"off"`, `"0"` or empty → None.

    Raises:
        ValueError: the text is none of these (the message says what is expected).
    """
    text = value.strip().lower()
    if text in _OFF:
        return None
    match = _RATE.match(text)
    multiplier = _unit_seconds(match.group(3)) if match and (match.group(2) or match.group(3)) else None
    if match is None or multiplier is None:
        raise ValueError(
            f"{value!r} is not a rate: use COUNT/SECONDS (e.g. 100/60), COUNT/UNIT "
            "(e.g. 100/minute, 5/hour) or off"
        )
    count = int(match.group(1))
    period = int(match.group(2) or 1) * multiplier
    if count == 0:
        return None
    if not (1 <= count <= MAX_COUNT and 1 <= period <= MAX_PERIOD_SECONDS):
        raise ValueError(
            f"{value!r}: the count must be 1..{MAX_COUNT} and the period 1 s..{MAX_PERIOD_SECONDS} s"
        )
    return Rate(count=count, period_seconds=period)


def _unit_seconds(unit: str) -> int | None:
    if unit in _UNITS:
        return _UNITS[unit]
    if unit.endswith("s") and len(unit) > 3 and unit[:-1] in _UNITS:  # "minutes", "hours"
        return _UNITS[unit[:-1]]
    return None


def wait_ms(tat_ms: int | None, now_ms: int, rate: Rate) -> int:
    """How long until a request fits the bucket (0: it fits now)."""
    base = now_ms if tat_ms is None or tat_ms < now_ms else tat_ms
    return max(0, base + rate.interval_ms - rate.period_ms - now_ms)


def next_tat(tat_ms: int | None, now_ms: int, rate: Rate) -> int:
    """The bucket's TAT after admitting one request at `now_ms`."""
    base = now_ms if tat_ms is None or tat_ms < now_ms else tat_ms
    return base + rate.interval_ms


def retry_after_seconds(wait: int) -> int:
    """Whole seconds for the Retry-After header: rounded up, at least 1."""
    return max(1, math.ceil(wait / 1000))
