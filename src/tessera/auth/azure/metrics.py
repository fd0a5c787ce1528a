"""Azure Auth login outcomes by reason: a view over the app's login counters.

Every auth method counts its logins through `tessera.observability.metrics.record_login`
(exported at `/metrics` as `tessera_logins_total`); this module only reads the Azure share of
those counters in the shape admin tools and tests already use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.auth.azure.models import METHOD
from tessera.observability.metrics import metrics_of

if TYPE_CHECKING:
    from tessera.api.deps import AppContext


class LoginMetrics:
    """Read-only: {"success": {"ok": n}, "failure": {reason: n, …}, "unavailable": {…}}."""

    def __init__(self, context: AppContext) -> None:
        self._context = context

    def snapshot(self) -> dict[str, dict[str, int]]:
        metrics = metrics_of(self._context.extras)
        return metrics.login_counts(METHOD) if metrics is not None else {}


def get_login_metrics(context: AppContext) -> LoginMetrics:
    return LoginMetrics(context)
