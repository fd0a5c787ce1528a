"""Retries with exponential backoff and jitter, for requests that are safe to repeat.

Only idempotent methods are retried: repeating a POST or PATCH could create or change something
twice. Time passes only through the injected `sleep`, so tests never wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import httpx

from tessera_sdk.errors import NetworkError, error_from_response, parse_retry_after

Sleep = Callable[[float], None]
Clock = Callable[[], float]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts the first try; delays grow base·2ⁿ up to `max_delay`, then get jitter."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A Retry-After longer than this is not waited for: the error goes to the caller instead.
    max_retry_after: float = 60.0
    statuses: frozenset[int] = RETRY_STATUSES
    methods: frozenset[str] = IDEMPOTENT_METHODS
    retry_network_errors: bool = True

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Delay before retry number `retry_number` (1-based): "equal jitter" in [d/2, d]."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry_number - 1))
        return ceiling / 2 + rng.random() * ceiling / 2


NO_RETRY = RetryPolicy(attempts=1)


@dataclass
class Retrier:
    """Sends requests through an httpx client, retrying per `policy`."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = time.sleep
    clock: Clock = time.time
    rng: random.Random = field(default_factory=random.Random)

    def send(
        self,
        http: httpx.Client,
        request: httpx.Request,
        *,
        statuses: Collection[int] | None = None,
    ) -> httpx.Response:
        """The final response (any status); raises NetworkError when the last try got no answer."""
        retryable = request.method.upper() in self.policy.methods
        statuses = self.policy.statuses if statuses is None else statuses
        attempt = 1
        while True:
            try:
                response = http.send(request)
            except httpx.TransportError as exc:
                if not (retryable and self.policy.retry_network_errors and attempt < self.policy.attempts):
                    raise NetworkError(f"could not reach {request.url.host}: {type(exc).__name__}") from exc
                self.sleep(self.policy.backoff(attempt, self.rng))
                attempt += 1
                continue
            if not (retryable and response.status_code in statuses and attempt < self.policy.attempts):
                return response
            delay = self._delay(response, attempt)
            if delay is None:
                return response
            response.close()
            self.sleep(delay)
            attempt += 1

    def _delay(self, response: httpx.Response, attempt: int) -> float | None:
        hint = parse_retry_after(response.headers.get("retry-after"), now=self.clock())
        if hint is None:
            return self.policy.backoff(attempt, self.rng)
        if hint > self.policy.max_retry_after:
            return None
        return hint


def raise_for_status(response: httpx.Response) -> httpx.Response:
    """Pass 2xx/304 through; anything else becomes the matching `TesseraError`."""
    if response.is_success or response.status_code == 304:
        return response
    raise error_from_response(response)
