"""The signing-key cache against a local Entra stand-in: caching, rotation, outages, single flight."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tessera.auth.azure.jwks import (
    CACHE_TTL,
    EXTRAS_KEY,
    REFRESH_COOLDOWN,
    STALE_GRACE,
    JwksCache,
    JwksFetchError,
    get_jwks_cache,
    make_http_client,
    parse_jwks,
)
from tessera.clock import FrozenClock
from tessera.errors import UpstreamUnavailable
from tests.fakes.entra import FakeEntra, SigningKey

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
CONCURRENT = 16


@pytest.fixture
def entra() -> Iterator[FakeEntra]:
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def cache(clock: FrozenClock) -> Iterator[JwksCache]:
    keys = JwksCache(make_http_client(), clock)
    yield keys
    keys.close()


def seconds(delta: Any) -> float:
    return float(delta.total_seconds())


def test_keys_are_fetched_once_then_served_from_cache(entra: FakeEntra, cache: JwksCache) -> None:
    key = entra.new_key()
    for _ in range(5):
        assert key.kid in cache.get_keys(entra.authority, TENANT, key.kid)
    assert entra.key_fetches() == 1
    assert entra.requests == [f"/{TENANT}/discovery/v2.0/keys"]


def test_each_tenant_has_its_own_entry(entra: FakeEntra, cache: JwksCache) -> None:
    key = entra.new_key()
    cache.get_keys(entra.authority, TENANT, key.kid)
    cache.get_keys(entra.authority, OTHER_TENANT, key.kid)
    assert (entra.key_fetches(TENANT), entra.key_fetches(OTHER_TENANT)) == (1, 1)


def test_keys_are_refetched_after_the_ttl(entra: FakeEntra, cache: JwksCache, clock: FrozenClock) -> None:
    key = entra.new_key()
    cache.get_keys(entra.authority, TENANT, key.kid)
    clock.advance(seconds(CACHE_TTL) - 1)
    cache.get_keys(entra.authority, TENANT, key.kid)
    assert entra.key_fetches() == 1
    clock.advance(2)
    cache.get_keys(entra.authority, TENANT, key.kid)
    assert entra.key_fetches() == 2


def test_rotation_new_kid_is_fetched_once_after_the_cooldown(
    entra: FakeEntra, cache: JwksCache, clock: FrozenClock
) -> None:
    old = entra.new_key()
    cache.get_keys(entra.authority, TENANT, old.kid)
    new = entra.rotate()
    # Within the cooldown an unknown kid costs nothing: the answer lacks the kid (a 401 upstream).
    assert new.kid not in cache.get_keys(entra.authority, TENANT, new.kid)
    assert entra.key_fetches() == 1
    clock.advance(seconds(REFRESH_COOLDOWN))
    assert new.kid in cache.get_keys(entra.authority, TENANT, new.kid)
    assert entra.key_fetches() == 2
    for _ in range(3):
        cache.get_keys(entra.authority, TENANT, new.kid)
    assert entra.key_fetches() == 2


def test_kid_spray_cannot_amplify_fetches(entra: FakeEntra, cache: JwksCache, clock: FrozenClock) -> None:
    entra.new_key()
    for i in range(200):
        cache.get_keys(entra.authority, TENANT, f"random-{uuid.uuid4().hex}")
        if i % 50 == 49:
            clock.advance(1)
    assert entra.key_fetches() == 1


def test_single_flight_on_a_cold_cache(entra: FakeEntra, cache: JwksCache) -> None:
    key = entra.new_key()
    with entra.held() as gate, ThreadPoolExecutor(CONCURRENT) as pool:
        futures = [pool.submit(cache.get_keys, entra.authority, TENANT, key.kid) for _ in range(CONCURRENT)]
        time.sleep(0.3)  # let every caller arrive while the one fetch is held at the stand-in
        gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert all(key.kid in r for r in results)
    assert entra.key_fetches() == 1


def test_single_flight_on_an_unknown_kid(entra: FakeEntra, cache: JwksCache, clock: FrozenClock) -> None:
    old = entra.new_key()
    cache.get_keys(entra.authority, TENANT, old.kid)
    new = entra.rotate()
    clock.advance(seconds(REFRESH_COOLDOWN))
    with entra.held() as gate, ThreadPoolExecutor(CONCURRENT) as pool:
        futures = [pool.submit(cache.get_keys, entra.authority, TENANT, new.kid) for _ in range(CONCURRENT)]
        time.sleep(0.3)
        gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert all(new.kid in r for r in results)
    assert entra.key_fetches() == 2


def test_cached_keys_keep_working_while_entra_is_down(
    entra: FakeEntra, cache: JwksCache, clock: FrozenClock
) -> None:
    key = entra.new_key()
    cache.get_keys(entra.authority, TENANT, key.kid)
    entra.outage()
    clock.advance(seconds(CACHE_TTL) + 60)  # stale: a refetch is attempted and refused
    assert key.kid in cache.get_keys(entra.authority, TENANT, key.kid)
    clock.advance(seconds(STALE_GRACE) - 120)
    assert key.kid in cache.get_keys(entra.authority, TENANT, key.kid)
    clock.advance(120)  # past the grace period: nothing usable any more
    with pytest.raises(UpstreamUnavailable):
        cache.get_keys(entra.authority, TENANT, key.kid)


def test_no_keys_and_entra_down_is_unavailable(entra: FakeEntra, cache: JwksCache) -> None:
    key = entra.new_key()
    entra.outage()
    with pytest.raises(UpstreamUnavailable) as caught:
        cache.get_keys(entra.authority, TENANT, key.kid)
    assert caught.value.status_code == 503


def test_unknown_kid_while_entra_is_down_is_unavailable_not_invalid(
    entra: FakeEntra, cache: JwksCache, clock: FrozenClock
) -> None:
    old = entra.new_key()
    cache.get_keys(entra.authority, TENANT, old.kid)
    entra.outage()
    clock.advance(seconds(REFRESH_COOLDOWN))
    with pytest.raises(UpstreamUnavailable):
        cache.get_keys(entra.authority, TENANT, "rotated-kid")
    # The known key still works meanwhile.
    assert old.kid in cache.get_keys(entra.authority, TENANT, old.kid)


def test_failed_fetches_are_retried_at_most_once_per_cooldown(
    entra: FakeEntra, cache: JwksCache, clock: FrozenClock
) -> None:
    key = entra.new_key()
    entra.mode = "error"
    for _ in range(5):
        with pytest.raises(UpstreamUnavailable):
            cache.get_keys(entra.authority, TENANT, key.kid)
    assert entra.key_fetches() == 1
    entra.mode = "ok"
    clock.advance(seconds(REFRESH_COOLDOWN))
    assert key.kid in cache.get_keys(entra.authority, TENANT, key.kid)
    assert entra.key_fetches() == 2


def test_recovery_after_an_outage(entra: FakeEntra, cache: JwksCache, clock: FrozenClock) -> None:
    key = entra.new_key()
    entra.outage()
    with pytest.raises(UpstreamUnavailable):
        cache.get_keys(entra.authority, TENANT, key.kid)
    entra.restore()
    clock.advance(seconds(REFRESH_COOLDOWN))
    assert key.kid in cache.get_keys(entra.authority, TENANT, key.kid)


@pytest.mark.parametrize("mode", ["error", "html", "huge", "redirect", "empty"])
def test_bad_answers_give_503_and_redirects_are_not_followed(
    entra: FakeEntra, cache: JwksCache, mode: str
) -> None:
    key = entra.new_key()
    entra.mode = mode
    with pytest.raises(UpstreamUnavailable):
        cache.get_keys(entra.authority, TENANT, key.kid)
    assert len(entra.requests) == 1  # in particular, the redirect target was never requested


def test_slow_entra_times_out(entra: FakeEntra, clock: FrozenClock) -> None:
    key = entra.new_key()
    entra.delay = 1.0
    cache = JwksCache(httpx.Client(timeout=0.1), clock)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable):
        cache.get_keys(entra.authority, TENANT, key.kid)
    assert time.monotonic() - started < 0.9
    cache.close()


def test_production_client_uses_five_second_timeouts_and_no_redirects() -> None:
    client = make_http_client()
    assert client.timeout.connect == 5.0
    assert client.timeout.read == 5.0
    assert client.follow_redirects is False
    client.close()


def test_no_credentials_are_sent_to_entra(entra: FakeEntra, cache: JwksCache) -> None:
    key = entra.new_key()
    cache.get_keys(entra.authority, TENANT, key.kid)
    sent = {name.lower() for name in entra.request_headers[0]}
    assert not sent & {"authorization", "cookie", "x-identity-header", "metadata"}


def _jwk(key: SigningKey, **changes: Any) -> dict[str, Any]:
    value = key.jwk()
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


def test_parse_jwks_keeps_only_usable_rs256_keys() -> None:
    good = SigningKey.generate("good")
    small = SigningKey.generate("small", bits=1024)
    document = {
        "keys": [
            _jwk(good),
            _jwk(small),
            _jwk(SigningKey.generate("enc"), use="enc"),
            _jwk(SigningKey.generate("rs384"), alg="RS384"),
            _jwk(SigningKey.generate("nokid"), kid=None),
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "broken", "n": "***", "e": "AQAB"},
            "not an object",
        ]
    }
    assert set(parse_jwks(json.dumps(document).encode())) == {"good"}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"keys": "x"}',
        b'{"keys": []}',
        b'{"keys": [{"kty": "oct", "kid": "a", "k": "AA"}]}',
    ],
    ids=["not_json", "array", "keys_not_list", "no_keys", "symmetric_only"],
)
def test_parse_jwks_refuses_documents_without_a_usable_key(body: bytes) -> None:
    with pytest.raises(JwksFetchError):
        parse_jwks(body)


def test_modulus_is_read_big_endian() -> None:
    key = SigningKey.generate("k")
    parsed = parse_jwks(json.dumps({"keys": [key.jwk()]}).encode())["k"]
    assert parsed.public_numbers() == key.private_key.public_key().public_numbers()
    assert base64.urlsafe_b64decode(key.jwk()["e"] + "==") == b"\x01\x00\x01"


def test_the_app_builds_one_cache_lazily(app: Any) -> None:
    context = app.state.context
    assert EXTRAS_KEY not in context.extras
    first = get_jwks_cache(context)
    assert get_jwks_cache(context) is first
    assert context.extras[EXTRAS_KEY] is first


def test_concurrent_first_use_builds_one_cache(app: Any) -> None:
    context = app.state.context
    barrier = threading.Barrier(8)

    def build() -> JwksCache:
        barrier.wait()
        return get_jwks_cache(context)

    with ThreadPoolExecutor(8) as pool:
        caches = {id(c) for c in pool.map(lambda _i: build(), range(8))}
    assert len(caches) == 1


def test_an_unexpected_fetch_error_never_wedges_the_tenant(clock: FrozenClock) -> None:
    key = SigningKey.generate("k1")
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if len(calls) == 1:
            raise RuntimeError("bug in a transport")
        return httpx.Response(200, json={"keys": [key.jwk()]})

    cache = JwksCache(make_http_client(httpx.MockTransport(handler)), clock)
    with pytest.raises(UpstreamUnavailable):
        cache.get_keys("https://login.example", TENANT, key.kid)
    clock.advance(seconds(REFRESH_COOLDOWN))
    assert key.kid in cache.get_keys("https://login.example", TENANT, key.kid)
    assert calls == [f"https://login.example/{TENANT}/discovery/v2.0/keys"] * 2
    cache.close()


def test_has_fresh_key_only_when_get_keys_would_answer_from_memory(
    entra: FakeEntra, cache: JwksCache, clock: FrozenClock
) -> None:
    """The login route fetches outside its unit of work exactly when this says False."""
    key = entra.new_key()
    assert not cache.has_fresh_key(TENANT, key.kid)  # cold cache
    cache.get_keys(entra.authority, TENANT, key.kid)
    assert cache.has_fresh_key(TENANT, key.kid)
    assert not cache.has_fresh_key(TENANT, "another-kid")  # would refetch for an unknown kid
    assert not cache.has_fresh_key(OTHER_TENANT, key.kid)  # keys are per tenant
    clock.advance(seconds(CACHE_TTL) + 1)
    assert not cache.has_fresh_key(TENANT, key.kid)  # stale: get_keys would refetch
    assert entra.key_fetches() == 1  # asking never fetches
