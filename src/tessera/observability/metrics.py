"""Prometheus metrics: one registry per app, so several apps in one process never share counters.

What is counted (names are the wire contract for dashboards; change them only with a note):
* `tessera_http_requests_total{method,route,status}` and
  `tessera_http_request_duration_seconds{method,route}`: every HTTP request, labelled by the
  route *template* (`/api/v3/secrets/raw/{secret_name}`), never the raw path, so that ids and
  secret names cannot explode the label set or end up in a monitoring system.
* `tessera_logins_total{method,outcome,reason}`: logins by auth method; outcome is `success`,
  `failure` (the uniform 401) or `unavailable` (an upstream such as Entra ID could not be
  reached). Every method reports through `record_login`: successes from the one place a token
  is minted, failures from the request edge that writes the failure audit record.
* `tessera_token_uses_total{auth_method}`: access-token uses consumed by authenticated requests.
* `tessera_jwks_lookups_total{result}` (hit / miss) and `tessera_jwks_fetches_total{outcome}`
  (ok / error): the Azure signing-key cache.
* `tessera_db_pool_*`: the database connection pool, read when scraped.

Services reach the app's `Metrics` without a new parameter through `session.info` (set by the
request edge, like the clock); code running outside a request gets None and records nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session

EXTRAS_KEY = "observability.metrics"
SESSION_KEY = "tessera.metrics"
UNMATCHED_ROUTE = "unmatched"  # requests no route answered: one label value, whatever the path

# Seconds. Dense below 25 ms, where the latency objective sits, and up to the 10 s client timeouts.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _PoolCollector(Collector):
    """Reads the connection pool's state at scrape time (no per-checkout bookkeeping)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool: Any = self._engine.pool
        readings = {
            "size": ("Connections the pool keeps open.", "size"),
            "checked_out": ("Connections in use by requests right now.", "checkedout"),
            "overflow": ("Connections opened beyond the pool size right now.", "overflow"),
            "checked_in": ("Idle connections in the pool.", "checkedin"),
        }
        for name, (help_text, method) in readings.items():
            reader = getattr(pool, method, None)
            if callable(reader):
                yield GaugeMetricFamily(f"tessera_db_pool_{name}", help_text, value=float(reader()))

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class Metrics:
    """The app's metrics. Label children are cached, so the hot path is a dict lookup and an add."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tessera_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tessera_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.logins = Counter(
            "tessera_logins",
            "Logins by auth method, outcome (success, failure, unavailable) and reason code.",
            ["method", "outcome", "reason"],
            registry=self.registry,
        )
        self.token_uses = Counter(
            "tessera_token_uses",
            "Access-token uses consumed by authenticated requests, by the token's auth method.",
            ["auth_method"],
            registry=self.registry,
        )
        self.jwks_lookups = Counter(
            "tessera_jwks_lookups",
            "Azure signing-key lookups answered from the cache (hit) or needing a fetch (miss).",
            ["result"],
            registry=self.registry,
        )
        self.jwks_fetches = Counter(
            "tessera_jwks_fetches",
            "Azure signing-key document fetches by outcome (ok, error).",
            ["outcome"],
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(_PoolCollector(engine))
        self._lock = threading.Lock()
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            with self._lock:
                children = (
                    self.requests.labels(method, route, str(status)),
                    self.latency.labels(method, route),
                )
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def login_count(self, method: str, outcome: str, reason: str) -> float:
        """The current value of one login counter (0 when never incremented); for views and tests."""
        value = self.registry.get_sample_value(
            "tessera_logins_total", {"method": method, "outcome": outcome, "reason": reason}
        )
        return value or 0.0

    def login_counts(self, method: str) -> dict[str, dict[str, int]]:
        """{outcome: {reason: count}} for one auth method."""
        result: dict[str, dict[str, int]] = {}
        for family in self.logins.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total") or sample.labels.get("method") != method:
                    continue
                outcome, reason = sample.labels["outcome"], sample.labels["reason"]
                result.setdefault(outcome, {})[reason] = int(sample.value)
        return result


def metrics_of(extras: dict[str, object]) -> Metrics | None:
    """The app's metrics from `AppContext.extras`, or None when the app was built without them."""
    found = extras.get(EXTRAS_KEY)
    return found if isinstance(found, Metrics) else None


def metrics_for(extras: dict[str, object], engine: Engine | None) -> Metrics:
    """The app's metrics, created on first use and kept in `extras` (like the app's other caches,
    so whoever resets those starts the counters afresh too)."""
    existing = metrics_of(extras)
    if existing is not None:
        return existing
    # setdefault is atomic: when two first requests race, both use the one that won.
    winner = extras.setdefault(EXTRAS_KEY, Metrics(engine))
    assert isinstance(winner, Metrics)
    return winner


def bind_session(session: Session, metrics: Metrics | None) -> None:
    if metrics is not None:
        session.info[SESSION_KEY] = metrics


def session_metrics(session: Session) -> Metrics | None:
    found = session.info.get(SESSION_KEY)
    return found if isinstance(found, Metrics) else None


# --- the recording functions services call --------------------------------------------------------


def record_login(metrics: Metrics | None, method: str, outcome: str, reason: str | None = None) -> None:
    """THE login counter, for every auth method: outcome success / failure / unavailable."""
    if metrics is not None:
        metrics.logins.labels(method, outcome, reason or "ok").inc()


def record_token_use(metrics: Metrics | None, auth_method: str) -> None:
    if metrics is not None:
        metrics.token_uses.labels(auth_method).inc()


def record_jwks_lookup(metrics: Metrics | None, *, hit: bool) -> None:
    if metrics is not None:
        metrics.jwks_lookups.labels("hit" if hit else "miss").inc()


def record_jwks_fetch(metrics: Metrics | None, *, ok: bool) -> None:
    if metrics is not None:
        metrics.jwks_fetches.labels("ok" if ok else "error").inc()
