"""The limiter: applies a request's rules against the backend, raising RateLimited (429)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from tessera.crypto.secrets_hash import derive_key
from tessera.errors import RateLimited
from tessera.ratelimit.backends import Backend, DatabaseBackend, FallbackBackend, RedisBackend
from tessera.ratelimit.rates import retry_after_seconds
from tessera.ratelimit.rules import Group, GroupRules, Rule, bucket_key, rules_from_settings
from tessera.shared_state.redis_store import get_store

if TYPE_CHECKING:
    from tessera.api.deps import AppContext

EXTRAS_KEY = "ratelimit.limiter"


class Limiter:
    def __init__(self, backend: Backend, rules: dict[Group, GroupRules], key_secret: bytes) -> None:
        self.backend = backend
        self.rules = rules
        self._key_secret = key_secret

    def check(self, hits: Sequence[tuple[Rule, str]], now: datetime) -> None:
        """Take one request from each bucket in turn.

        Raises:
            RateLimited: a bucket is empty (Retry-After says when it will not be); later buckets
            are not touched, so a refused request costs the client nothing further.
        """
        now_ms = int(now.timestamp() * 1000)
        for rule, subject in hits:
            waited = self.backend.hit(bucket_key(self._key_secret, rule, subject), rule.rate, now_ms)
            if waited > 0:
                retry = retry_after_seconds(waited)
                raise RateLimited(reason=f"rate_limited:{rule.name}", headers={"Retry-After": str(retry)})


def build_limiter(context: AppContext) -> Limiter:
    """The database backend, fronted by Redis when TESSERA_REDIS_URL is set."""
    database = DatabaseBackend(context.session_factory)
    store = get_store(context)
    backend: Backend = FallbackBackend(RedisBackend(store), database) if store is not None else database
    return Limiter(
        backend,
        rules_from_settings(context.settings),
        derive_key(context.signing_secret, "rate-limit-buckets"),
    )
