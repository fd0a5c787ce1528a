"""The app's Redis connection (when TESSERA_REDIS_URL is set), with a short-circuit on failure.

Redis calls use short timeouts. After a failure the store reports itself unavailable for a
cooldown without trying again, so a Redis outage costs each request nothing instead of a
connection timeout; callers then take their database path. Every key carries the configured
prefix, so several deployments (or test runs) can share one Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tessera.settings import Settings, SettingsError

if TYPE_CHECKING:
    from tessera.api.deps import AppContext

logger = logging.getLogger("tessera.shared_state")

EXTRAS_KEY = "shared_state.redis"
# Redis runs next to the servers; an answer slower than this is treated as an outage.
TIMEOUT_SECONDS = 0.5
# After a failure, Redis is not tried again for this long (the database serves meanwhile).
RETRY_AFTER_SECONDS = 5.0

T = TypeVar("T")


class SharedStateUnavailable(Exception):
    """Redis could not answer (or is in its cooldown after a failure); use the database path."""


class RedisStore:
    """A thread-safe Redis client plus the failure cooldown; `run` is the only way to use it."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        retry_after: float = RETRY_AFTER_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self._retry_after = retry_after
        self._monotonic = monotonic
        self._down_until = 0.0
        self._lock = threading.Lock()

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def available(self) -> bool:
        return self._monotonic() >= self._down_until

    def run(self, call: Callable[[Any], T]) -> T:
        """Run `call(client)`; raises SharedStateUnavailable on any Redis error or during a cooldown."""
        import redis

        if not self.available:
            raise SharedStateUnavailable("redis is in its cooldown after a failure")
        try:
            return call(self._client)
        except (redis.RedisError, OSError) as exc:
            self._mark_down(exc)
            raise SharedStateUnavailable(type(exc).__name__) from exc

    def register_script(self, source: str) -> Any:
        """A Lua script object (EVALSHA, reloaded transparently after a Redis restart)."""
        return self._client.register_script(source)

    def _mark_down(self, exc: BaseException) -> None:
        with self._lock:
            first = self.available
            self._down_until = self._monotonic() + self._retry_after
        if first:
            # Once per outage window, not once per request; never with the URL (it may hold a password).
            logger.warning(
                "redis unavailable (%s); using the database for %.0f s", type(exc).__name__, self._retry_after
            )

    def close(self) -> None:
        self._client.close()


def build(settings: Settings) -> RedisStore | None:
    """The store for TESSERA_REDIS_URL, or None without it. No connection is made until first use.

    Raises:
        SettingsError: the URL is set but the `redis` package is missing or the URL is invalid.
    """
    if not settings.redis_url:
        return None
    try:
        import redis
    except ImportError as exc:
        raise SettingsError(
            "TESSERA_REDIS_URL is set but the redis package is not installed: pip install 'tessera[redis]'"
        ) from exc
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries with back-off (the library's default waits up to seconds): a failed call
    # goes straight to the cooldown and the database path.
    no_retry = Retry(NoBackoff(), 0)
    try:
        pool = redis.ConnectionPool.from_url(
            settings.redis_url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry_on_timeout=False,
            retry=no_retry,
            health_check_interval=30,
        )
    except ValueError as exc:
        raise SettingsError("TESSERA_REDIS_URL is not a valid redis://, rediss:// or unix:// URL") from exc
    client = redis.Redis(connection_pool=pool, retry=no_retry)
    client.auto_close_connection_pool = True
    return RedisStore(client, settings.redis_key_prefix)


def install(context: AppContext) -> None:
    """Build the app's store into `context.extras` (called once by `create_app`)."""
    context.extras[EXTRAS_KEY] = build(context.settings)


def get_store(context: AppContext) -> RedisStore | None:
    store = context.extras.get(EXTRAS_KEY)
    return store if isinstance(store, RedisStore) else None


def close(context: AppContext) -> None:
    """Close the connection pool on shutdown."""
    store = get_store(context)
    if store is not None:
        store.close()
