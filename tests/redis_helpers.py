"""Redis for tests: the local server at 127.0.0.1:6379 (or TESSERA_TEST_REDIS_URL), a key prefix
unique to each test, and removal of every key under it afterwards. Skips with a clear message
when no Redis answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

REDIS_ENV = "TESSERA_TEST_REDIS_URL"
DEFAULT_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisNamespace:
    url: str
    prefix: str

    def stored_keys(self) -> list[bytes]:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            return list(client.scan_iter(match=f"{self.prefix}*", count=500))
        finally:
            client.close()


def redis_url() -> str:
    return os.environ.get(REDIS_ENV, DEFAULT_URL)


def require_redis() -> str:
    """The Redis URL, or skip the test saying why."""
    import redis

    url = redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis tests skipped: no Redis answers at {url} ({type(exc).__name__}); set {REDIS_ENV}")
    finally:
        client.close()
    return url


@contextmanager
def redis_namespace(label: str = "test") -> Iterator[RedisNamespace]:
    """A fresh key prefix on the test Redis; every key under it is deleted at the end."""
    import redis

    url = require_redis()
    prefix = f"tessera-test:{label}:{uuid.uuid4().hex[:12]}:"
    try:
        yield RedisNamespace(url=url, prefix=prefix)
    finally:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
