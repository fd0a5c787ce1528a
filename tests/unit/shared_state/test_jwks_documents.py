"""Key documents shared through Redis: replicas (here, separate caches) fetch once between them,
a replica that starts during an Entra outage can still verify, and nothing written to Redis by
someone else can add a signing key."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import redis

from tessera.auth.azure.jwks import CACHE_TTL, REFRESH_COOLDOWN, STALE_GRACE, JwksCache, make_http_client
from tessera.clock import FrozenClock
from tessera.errors import UpstreamUnavailable
from tessera.settings import Settings
from tessera.shared_state.jwks_documents import SharedKeyDocuments
from tessera.shared_state.redis_store import RedisStore, build
from tests.fakes.entra import FakeEntra, SigningKey
from tests.redis_helpers import RedisNamespace, redis_namespace

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SECRET = b"server-secret-0123456789abcdef-0123456789"
KEEP = CACHE_TTL + STALE_GRACE


@pytest.fixture
def entra() -> Iterator[FakeEntra]:
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture
def namespace() -> Iterator[RedisNamespace]:
    with redis_namespace("jwks") as value:
        yield value


@pytest.fixture
def store(namespace: RedisNamespace) -> Iterator[RedisStore]:
    built = build(Settings(redis_url=namespace.url, redis_key_prefix=namespace.prefix))
    assert built is not None
    yield built
    built.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def replica(store: RedisStore | None, clock: FrozenClock, secret: bytes = SECRET) -> JwksCache:
    shared = SharedKeyDocuments(store, secret, keep_for=KEEP) if store is not None else None
    return JwksCache(make_http_client(), clock, shared=shared)


def test_replicas_fetch_once_between_them(entra: FakeEntra, store: RedisStore, clock: FrozenClock) -> None:
    key = entra.new_key()
    first, second, third = (replica(store, clock) for _ in range(3))
    for cache in (first, second, third):
        assert key.kid in cache.get_keys(entra.authority, TENANT, key.kid)
    assert entra.key_fetches(TENANT) == 1


def test_a_replica_started_during_an_outage_uses_the_shared_document(
    entra: FakeEntra, store: RedisStore, clock: FrozenClock
) -> None:
    key = entra.new_key()
    replica(store, clock).get_keys(entra.authority, TENANT, key.kid)
    entra.outage()
    clock.advance(CACHE_TTL.total_seconds() + 60)  # stale, but within the grace period
    assert key.kid in replica(store, clock).get_keys(entra.authority, TENANT, key.kid)
    # Without Redis the same replica has nothing to go on: 503, as before.
    with pytest.raises(UpstreamUnavailable):
        replica(None, clock).get_keys(entra.authority, TENANT, key.kid)
    # Past the grace period the shared document is not used either.
    clock.advance(STALE_GRACE.total_seconds())
    with pytest.raises(UpstreamUnavailable):
        replica(store, clock).get_keys(entra.authority, TENANT, key.kid)


def test_a_rotation_fetched_by_one_replica_serves_the_others(
    entra: FakeEntra, store: RedisStore, clock: FrozenClock
) -> None:
    old = entra.new_key()
    first, second = replica(store, clock), replica(store, clock)
    first.get_keys(entra.authority, TENANT, old.kid)
    second.get_keys(entra.authority, TENANT, old.kid)
    new = entra.rotate()
    clock.advance(REFRESH_COOLDOWN.total_seconds())
    assert new.kid in first.get_keys(entra.authority, TENANT, new.kid)
    assert new.kid in second.get_keys(entra.authority, TENANT, new.kid)
    assert entra.key_fetches(TENANT) == 2  # the first fetch, and the first replica's refetch


def _stored(namespace: RedisNamespace) -> tuple[redis.Redis, bytes, bytes]:
    client = redis.Redis.from_url(namespace.url)
    (name,) = [k for k in namespace.stored_keys() if b"jwks:" in k]
    value = client.get(name)
    assert isinstance(value, bytes)
    return client, name, value


def test_a_key_planted_in_redis_is_never_trusted(
    entra: FakeEntra, store: RedisStore, clock: FrozenClock, namespace: RedisNamespace
) -> None:
    genuine = entra.new_key()
    replica(store, clock).get_keys(entra.authority, TENANT, genuine.kid)
    attacker = SigningKey.generate("attacker-kid")
    client, name, value = _stored(namespace)
    mac, _, payload = value.partition(b".")
    document = json.loads(payload)
    document["body"] = base64.b64encode(json.dumps({"keys": [attacker.jwk()]}).encode()).decode()
    forged = json.dumps(document, separators=(",", ":")).encode()
    client.set(name, mac + b"." + forged)
    # The same document signed under another server secret is refused too.
    other = SharedKeyDocuments(store, b"another-secret-0123456789abcdef-0123", keep_for=KEEP)
    assert other.load(entra.authority, TENANT) is None
    client.close()
    entra.outage()
    fresh = replica(store, clock)
    with pytest.raises(UpstreamUnavailable):
        fresh.get_keys(entra.authority, TENANT, attacker.kid)


def test_a_newer_looking_copy_cannot_be_made_from_an_old_document(
    entra: FakeEntra, store: RedisStore, clock: FrozenClock, namespace: RedisNamespace
) -> None:
    key = entra.new_key()
    replica(store, clock).get_keys(entra.authority, TENANT, key.kid)
    client, name, value = _stored(namespace)
    mac, _, payload = value.partition(b".")
    document = json.loads(payload)
    document["fetched_at_ms"] += 10**9
    client.set(name, mac + b"." + json.dumps(document, separators=(",", ":")).encode())
    client.close()
    shared = SharedKeyDocuments(store, SECRET, keep_for=KEEP)
    assert shared.load(entra.authority, TENANT) is None


def test_redis_away_means_fetching_as_without_it(entra: FakeEntra, clock: FrozenClock) -> None:
    key = entra.new_key()
    down = build(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert down is not None
    caches = [replica(down, clock) for _ in range(2)]
    for cache in caches:
        assert key.kid in cache.get_keys(entra.authority, TENANT, key.kid)
    assert entra.key_fetches(TENANT) == 2
    down.close()
