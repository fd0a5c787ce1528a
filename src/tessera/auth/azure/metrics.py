"""Counts of Azure Auth login outcomes by reason, kept in memory for a metrics endpoint to read."""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tessera.api.deps import AppContext

EXTRAS_KEY = "azure.login_metrics"


class LoginMetrics:
    """Thread-safe counters keyed by (outcome, reason): success, failure, unavailable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, outcome: str, reason: str | None = None) -> None:
        with self._lock:
            self._counts[(outcome, reason or "ok")] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """{"success": {"ok": n}, "failure": {"audience_mismatch": n, …}, "unavailable": {…}}."""
        with self._lock:
            result: dict[str, dict[str, int]] = {}
            for (outcome, reason), count in self._counts.items():
                result.setdefault(outcome, {})[reason] = count
            return result


def get_login_metrics(context: AppContext) -> LoginMetrics:
    """The app's one set of counters, created on first use in `context.extras`."""
    existing = context.extras.get(EXTRAS_KEY)
    if isinstance(existing, LoginMetrics):
        return existing
    winner = context.extras.setdefault(EXTRAS_KEY, LoginMetrics())
    assert isinstance(winner, LoginMetrics)
    return winner
