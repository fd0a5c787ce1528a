"""Where the buckets live: the database (always available, correct across replicas on its own)
or Redis (faster, optional). Each applies one bucket step as a single atomic operation.

* Database: one `INSERT … ON CONFLICT DO UPDATE … WHERE <fits> RETURNING` statement (SQLite ≥ 3.35
  and PostgreSQL). The row lock taken by the upsert makes concurrent hits from every replica
  serialise on the bucket, so a limit of N admits exactly N.
* Redis: one Lua script (atomic on the Redis server).
* With Redis configured, a Redis failure falls back to the database for a cooldown: the gates
  never open because Redis is away. Buckets are not copied between the two, so a client may get
  one extra burst at the switch-over; a database failure on top of that fails closed (503).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session, sessionmaker

from tessera.ratelimit.models import RateLimitBucket
from tessera.ratelimit.rates import Rate, wait_ms
from tessera.shared_state.redis_store import RedisStore, SharedStateUnavailable
from tessera.store.dialects import insert_for

logger = logging.getLogger("tessera.ratelimit")

# Expired buckets are deleted at most this often per process (they are harmless meanwhile).
PURGE_EVERY_SECONDS = 60.0


class Backend(Protocol):
    name: str

    def hit(self, key: str, rate: Rate, now_ms: int) -> int:
        """Take one request from the bucket: 0 when it fits, else milliseconds until it would."""
        ...


class DatabaseBackend:
    name = "database"

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        purge_every: float = PURGE_EVERY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_factory = session_factory
        self._purge_every = purge_every
        self._monotonic = monotonic
        self._next_purge = monotonic() + purge_every
        self._lock = threading.Lock()

    def hit(self, key: str, rate: Rate, now_ms: int) -> int:
        # Its own short transaction: a limited request counts even when the request later fails
        # and rolls its own work back.
        with self._session_factory.begin() as session:
            waited = take(session, key, rate, now_ms)
        self._maybe_purge(now_ms)
        return waited

    def _maybe_purge(self, now_ms: int) -> None:
        with self._lock:
            if self._monotonic() < self._next_purge:
                return
            self._next_purge = self._monotonic() + self._purge_every
        with self._session_factory.begin() as session:
            purge_expired(session, now_ms)


def take(session: Session, key: str, rate: Rate, now_ms: int) -> int:
    """One bucket step in one conditional upsert; returns 0 (admitted) or the wait in ms."""
    bucket = RateLimitBucket.__table__.c
    interval, period = rate.interval_ms, rate.period_ms
    statement = (
        insert_for(session)(RateLimitBucket)
        .values(key_hash=key, tat_ms=now_ms + interval)
        .on_conflict_do_update(
            index_elements=[bucket.key_hash],
            set_={
                "tat_ms": case((bucket.tat_ms > now_ms, bucket.tat_ms + interval), else_=now_ms + interval)
            },
            # The request fits when max(TAT, now) + interval - period <= now.
            where=bucket.tat_ms <= now_ms + period - interval,
        )
        .returning(bucket.tat_ms)
    )
    if session.execute(statement).first() is not None:
        return 0
    # Refused: read the TAT only to tell the client how long to wait.
    tat = session.scalar(select(bucket.tat_ms).where(bucket.key_hash == key))
    return max(1, wait_ms(tat, now_ms, rate))


def purge_expired(session: Session, now_ms: int) -> int:
    """Delete buckets that are full again (equivalent to having no row)."""
    result = session.execute(
        delete(RateLimitBucket)
        .where(RateLimitBucket.tat_ms < now_ms)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# KEYS[1] bucket; ARGV now_ms, interval_ms, period_ms. Returns 0 (admitted) or the wait in ms.
# Integers are formatted explicitly: Lua numbers are doubles and would otherwise be written
# in exponent notation.
GCRA_LUA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local wait = tat + interval - period - now
if wait > 0 then return string.format('%d', wait) end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', string.format('%d', new - now))
return '0'
"""


class RedisBackend:
    name = "redis"

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._script = store.register_script(GCRA_LUA)

    def hit(self, key: str, rate: Rate, now_ms: int) -> int:
        redis_key = self._store.key("rl", key)
        args = [now_ms, rate.interval_ms, rate.period_ms]
        result = self._store.run(lambda client: self._script(keys=[redis_key], args=args, client=client))
        return int(result)


class FallbackBackend:
    """Redis first; the database whenever Redis fails or is in its cooldown."""

    name = "redis+database"

    def __init__(self, primary: RedisBackend, fallback: DatabaseBackend) -> None:
        self.primary = primary
        self.fallback = fallback

    def hit(self, key: str, rate: Rate, now_ms: int) -> int:
        try:
            return self.primary.hit(key, rate, now_ms)
        except SharedStateUnavailable:
            return self.fallback.hit(key, rate, now_ms)
