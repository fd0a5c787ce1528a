"""The bucket stores agree with the pure model: the database (SQLite and PostgreSQL), Redis, and
the Redis-then-database fallback that keeps the gates shut while Redis is away."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tessera.ratelimit.backends import Backend, DatabaseBackend, FallbackBackend, RedisBackend
from tessera.ratelimit.rates import Rate, next_tat, wait_ms
from tessera.settings import Settings
from tessera.shared_state.redis_store import RedisStore, SharedStateUnavailable, build
from tessera.store.engine import make_session_factory
from tests.redis_helpers import RedisNamespace, redis_namespace

NOW = 1_900_000_000_000


@pytest.fixture
def database(engine: Engine) -> DatabaseBackend:
    return DatabaseBackend(make_session_factory(engine))


@pytest.fixture
def test_redis() -> Iterator[RedisNamespace]:
    with redis_namespace("backends") as namespace:
        yield namespace


@pytest.fixture
def redis_backend(test_redis: RedisNamespace) -> Iterator[RedisBackend]:
    store = build(Settings(redis_url=test_redis.url, redis_key_prefix=test_redis.prefix))
    assert store is not None
    yield RedisBackend(store)
    store.close()


def _replay(backend: Backend, rate: Rate, gaps: list[int]) -> list[int]:
    key = uuid.uuid4().hex
    now = NOW
    return [backend.hit(key, rate, now := now + gap) for gap in gaps]


def _model(rate: Rate, gaps: list[int]) -> list[int]:
    tat: int | None = None
    now = NOW
    answers = []
    for gap in gaps:
        now += gap
        waited = wait_ms(tat, now, rate)
        if waited == 0:
            tat = next_tat(tat, now, rate)
        answers.append(waited)
    return answers


CASES = st.tuples(
    st.builds(Rate, st.integers(1, 6), st.integers(1, 30)),
    st.lists(st.integers(0, 8_000), min_size=1, max_size=25),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=CASES)
def test_database_backend_matches_the_model(database: DatabaseBackend, case: tuple[Rate, list[int]]) -> None:
    rate, gaps = case
    assert _replay(database, rate, gaps) == _model(rate, gaps)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=CASES)
def test_redis_backend_matches_the_model(redis_backend: RedisBackend, case: tuple[Rate, list[int]]) -> None:
    rate, gaps = case
    assert _replay(redis_backend, rate, gaps) == _model(rate, gaps)


def test_redis_keys_carry_the_prefix_and_expire(
    redis_backend: RedisBackend, test_redis: RedisNamespace
) -> None:
    import redis

    redis_backend.hit("k", Rate(2, 60), NOW)
    (key,) = test_redis.stored_keys()
    assert key.decode() == f"{test_redis.prefix}rl:k"
    client = redis.Redis.from_url(test_redis.url)
    try:
        assert 0 < client.pttl(key) <= 30_000
    finally:
        client.close()


class _FlakyStore(RedisStore):
    """A store whose Redis fails on demand (the real failure path: a client that raises)."""

    def __init__(self) -> None:
        self.broken = False
        self.now = 0.0
        super().__init__(_FakeClient(self), "t:", retry_after=5.0, monotonic=lambda: self.now)


class _FakeClient:
    def __init__(self, store: _FlakyStore) -> None:
        self.store = store
        self.calls = 0

    def register_script(self, _source: str) -> Any:
        def run(*, keys: list[str], args: list[int], client: Any) -> int:
            import redis

            self.calls += 1
            if self.store.broken:
                raise redis.ConnectionError("down")
            return 0

        return run

    def close(self) -> None:
        pass


def test_a_redis_outage_falls_back_to_the_database_not_open_gates(database: DatabaseBackend) -> None:
    store = _FlakyStore()
    backend = FallbackBackend(RedisBackend(store), database)
    rate = Rate(2, 60)
    assert backend.hit("k", rate, NOW) == 0
    store.broken = True
    # Redis fails: the database counts from here on, and its limit holds.
    assert [backend.hit("k", rate, NOW) for _ in range(3)] == [0, 0, 30_000]
    calls = store._client.calls
    # During the cooldown Redis is not even tried (no timeout per request).
    backend.hit("k", rate, NOW)
    assert store._client.calls == calls
    store.broken = False
    store.now += 5.0
    assert backend.hit("other", rate, NOW) == 0
    assert store._client.calls == calls + 1


def test_the_store_raises_unavailable_during_its_cooldown() -> None:
    store = _FlakyStore()
    store.broken = True
    script = store.register_script("")
    with pytest.raises(SharedStateUnavailable):
        store.run(lambda client: script(keys=[], args=[], client=client))
    assert not store.available
    with pytest.raises(SharedStateUnavailable, match="cooldown"):
        store.run(lambda _client: 1)


def test_unreachable_redis_is_reported_as_unavailable() -> None:
    store = build(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert store is not None
    with pytest.raises(SharedStateUnavailable):
        store.run(lambda client: client.ping())
    store.close()


def test_no_redis_url_means_no_store() -> None:
    assert build(Settings()) is None
