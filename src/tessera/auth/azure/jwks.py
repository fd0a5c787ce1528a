"""I/O: Entra ID signing keys, fetched per tenant and cached.

Rules (each one answers a failure seen in other implementations):
* Keys are cached per (authority, tenant) for up to 24 h; Microsoft rotates keys with overlap
  and asks relying parties to re-read them about daily.
* An unknown `kid` triggers a refetch, but at most one attempt per tenant per cooldown, so a
  stream of tokens with made-up kids cannot turn the server into a traffic amplifier.
* Single flight: one fetch per tenant at a time; concurrent callers wait for it and share the
  result (endpoints are sync and run in threads, hence a threading lock and event).
* When Entra is unreachable, keys already held keep working (for a bounded grace period);
  when no usable key exists the answer is `UpstreamUnavailable` (503) — never a 500 and never
  an "allow".
* 5 s connect/read timeouts, no redirects followed, a response size cap, and no credentials
  of any kind sent.
* With Redis (optional), replicas share fetched documents (integrity-protected; see
  `tessera.shared_state.jwks_documents`): a document another replica fetched more recently is
  used instead of fetching, and one within the grace period stands in while Entra is down.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from tessera.auth.azure.clouds import keys_url
from tessera.clock import Clock
from tessera.errors import UpstreamUnavailable
from tessera.observability.metrics import Metrics, metrics_of, record_jwks_fetch, record_jwks_lookup
from tessera.shared_state.jwks_documents import SharedKeyDocuments
from tessera.shared_state.redis_store import get_store

if TYPE_CHECKING:
    from tessera.api.deps import AppContext

logger = logging.getLogger("tessera.auth.azure.jwks")

CACHE_TTL = timedelta(hours=24)
REFRESH_COOLDOWN = timedelta(seconds=60)
# How long past the TTL cached keys still serve while every refetch fails: long enough to ride
# out an Entra or network outage, short enough that a key Microsoft withdrew stops working.
STALE_GRACE = timedelta(hours=24)
TIMEOUT_SECONDS = 5.0
# A whole fetch (connect + slowly dripping body) may not take longer than this.
FETCH_DEADLINE_SECONDS = 10.0
MAX_JWKS_BYTES = 512 * 1024
MIN_RSA_BITS = 2048
EXTRAS_KEY = "azure.jwks"


class JwksFetchError(Exception):
    """The key document could not be fetched or used; the message is safe to log."""


@dataclass(slots=True)
class _Entry:
    keys: dict[str, RSAPublicKey] | None = None
    fetched_at: datetime | None = None
    attempted_at: datetime | None = None
    last_failed: bool = False
    inflight: threading.Event | None = None


def _b64url_int(value: object) -> int:
    if not isinstance(value, str) or not value:
        raise ValueError("missing")
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _rsa_key(entry: Mapping[str, Any]) -> tuple[str, RSAPublicKey] | None:
    """A JWK usable for RS256 signature checks, or None (wrong type, purpose, size or shape)."""
    kid = entry.get("kid")
    if entry.get("kty") != "RSA" or not isinstance(kid, str) or not kid:
        return None
    if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
        return None
    try:
        key = RSAPublicNumbers(_b64url_int(entry.get("e")), _b64url_int(entry.get("n"))).public_key()
    except (ValueError, binascii.Error):
        return None
    if key.key_size < MIN_RSA_BITS:
        return None
    return kid, key


def parse_jwks(body: bytes) -> dict[str, RSAPublicKey]:
    """`{"keys": [...]}` → kid → key. Raises JwksFetchError when no usable key is in it."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise JwksFetchError("the key document is not JSON") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksFetchError("the key document has no keys list")
    keys: dict[str, RSAPublicKey] = {}
    for entry in entries:
        parsed = _rsa_key(entry) if isinstance(entry, dict) else None
        if parsed is not None and parsed[0] not in keys:
            keys[parsed[0]] = parsed[1]
    if not keys:
        raise JwksFetchError("the key document has no usable RSA signing key")
    return keys


def make_http_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=False,  # a redirect could lead anywhere, including our own network
        headers={"Accept": "application/json", "User-Agent": "tessera-azure-auth"},
    )


class JwksCache:
    """Per-tenant signing keys with TTL, refetch-on-unknown-kid cooldown and single flight."""

    def __init__(
        self,
        client: httpx.Client,
        clock: Clock,
        *,
        ttl: timedelta = CACHE_TTL,
        cooldown: timedelta = REFRESH_COOLDOWN,
        stale_grace: timedelta = STALE_GRACE,
        fetch_deadline: float = FETCH_DEADLINE_SECONDS,
        metrics: Metrics | None = None,
        shared: SharedKeyDocuments | None = None,
    ) -> None:
        self._metrics = metrics
        self._shared = shared
        self._client = client
        self._clock = clock
        self._ttl = ttl
        self._cooldown = cooldown
        self._stale_grace = stale_grace
        self._fetch_deadline = fetch_deadline
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    def close(self) -> None:
        self._client.close()

    def get_keys(self, authority: str, tenant_id: str, kid: str) -> Mapping[str, RSAPublicKey]:
        """The tenant's current keys; refetched when stale or when `kid` is unknown (rate-limited).

        The result may still lack `kid` (then the token names a key Entra does not publish).

        Raises:
            UpstreamUnavailable: no usable keys, or `kid` is unknown while Entra cannot be reached.
        """
        cache_key = (authority, tenant_id)
        first = True
        while True:
            with self._lock:
                entry = self._entries.setdefault(cache_key, _Entry())
                now = self._clock.now()
                plan = self._plan(entry, kid, now)
                if plan == "fetch":
                    entry.inflight = threading.Event()
                    entry.attempted_at = now
                elif plan == "settle":
                    return self._settle(entry, kid, now)
                event = entry.inflight
                keys = entry.keys
            if first:  # one lookup per call, however many rounds it waits
                record_jwks_lookup(self._metrics, hit=plan == "use")
                first = False
            if plan == "use":
                assert keys is not None
                return keys
            assert event is not None
            if plan == "wait":
                if not event.wait(self._fetch_deadline + 1):
                    raise _unavailable("a key fetch for the tenant is still running")
                continue
            self._refresh(cache_key, entry, event)

    def has_fresh_key(self, tenant_id: str, kid: str) -> bool:
        """True when `get_keys` for this tenant and kid would answer from memory (no fetch, no wait).

        Checked under any authority: tenant ids are unique across clouds. A False only means the
        caller should look up the keys where a slow fetch harms no one (see the login route).
        """
        with self._lock:
            now = self._clock.now()
            return any(
                key[1] == tenant_id
                and entry.keys is not None
                and kid in entry.keys
                and self._usable(entry, now, self._ttl)
                for key, entry in self._entries.items()
            )

    def _usable(self, entry: _Entry, now: datetime, limit: timedelta) -> bool:
        return entry.keys is not None and entry.fetched_at is not None and now - entry.fetched_at < limit

    def _plan(self, entry: _Entry, kid: str, now: datetime) -> str:
        known = entry.keys is not None and kid in entry.keys
        if known and self._usable(entry, now, self._ttl):
            return "use"
        if entry.inflight is not None:
            # Someone is already fetching: serve from cache if we can, otherwise share their result.
            return "use" if known and self._usable(entry, now, self._ttl + self._stale_grace) else "wait"
        if entry.attempted_at is None or now - entry.attempted_at >= self._cooldown:
            return "fetch"
        return "settle"

    def _settle(self, entry: _Entry, kid: str, now: datetime) -> Mapping[str, RSAPublicKey]:
        """No fetch allowed right now: answer from what we hold, or 503."""
        if not self._usable(entry, now, self._ttl + self._stale_grace):
            raise _unavailable("no usable signing keys for the tenant")
        assert entry.keys is not None
        if kid not in entry.keys and entry.last_failed:
            # The key may be new and we cannot check: not the caller's fault, so not a 401.
            raise _unavailable("unknown kid and the key endpoint is unreachable")
        return entry.keys

    def _refresh(self, cache_key: tuple[str, str], entry: _Entry, event: threading.Event) -> None:
        keys: dict[str, RSAPublicKey] | None = None
        fetched_at: datetime | None = None
        try:
            keys, fetched_at = self._obtain(cache_key, entry.fetched_at)
        except JwksFetchError as exc:
            logger.warning("signing keys for tenant %s not fetched: %s", cache_key[1], exc)
        except Exception:
            # Whatever went wrong, the in-flight marker must be cleared below, or every later
            # caller for this tenant would wait on a fetch that never finishes.
            logger.exception("signing keys for tenant %s not fetched", cache_key[1])
        finally:
            with self._lock:
                if keys is not None:
                    entry.keys = keys
                    entry.fetched_at = fetched_at
                entry.last_failed = keys is None
                entry.inflight = None
            event.set()
            record_jwks_fetch(self._metrics, ok=keys is not None)

    def _obtain(
        self, cache_key: tuple[str, str], held_since: datetime | None
    ) -> tuple[dict[str, RSAPublicKey], datetime]:
        """Keys and when they were fetched: another replica's newer document, else Entra's."""
        shared = self._shared.load(*cache_key) if self._shared is not None else None
        now = self._clock.now()
        if (
            shared is not None
            and now - shared.fetched_at < self._ttl
            and (held_since is None or shared.fetched_at > held_since)
        ):
            return parse_jwks(shared.body), shared.fetched_at
        try:
            body = self._download(*cache_key)
            keys = parse_jwks(body)
        except JwksFetchError:
            if shared is not None and now - shared.fetched_at < self._ttl + self._stale_grace:
                return parse_jwks(shared.body), shared.fetched_at
            raise
        if self._shared is not None:
            self._shared.publish(*cache_key, body, now)
        return keys, now

    def _download(self, authority: str, tenant_id: str) -> bytes:
        deadline = time.monotonic() + self._fetch_deadline
        try:
            with self._client.stream("GET", keys_url(authority, tenant_id)) as response:
                if response.status_code != 200:
                    raise JwksFetchError(f"HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksFetchError("the key document is too large")
                    if time.monotonic() > deadline:
                        raise JwksFetchError("the key document arrived too slowly")
        except httpx.HTTPError as exc:
            raise JwksFetchError(f"{type(exc).__name__}") from exc
        return bytes(body)


def _unavailable(why: str) -> UpstreamUnavailable:
    logger.warning("Azure signing keys unavailable: %s", why)
    return UpstreamUnavailable("Azure signing keys are unavailable, please retry", reason="jwks_unavailable")


def get_jwks_cache(context: AppContext) -> JwksCache:
    """The app's one key cache, built on first use and kept in `context.extras`."""
    existing = context.extras.get(EXTRAS_KEY)
    if isinstance(existing, JwksCache):
        return existing
    store = get_store(context)
    shared = (
        SharedKeyDocuments(store, context.signing_secret, keep_for=CACHE_TTL + STALE_GRACE)
        if store is not None
        else None
    )
    candidate = JwksCache(
        make_http_client(), context.clock, metrics=metrics_of(context.extras), shared=shared
    )
    # setdefault is atomic: if two first requests race, one cache wins and the other is closed.
    winner = context.extras.setdefault(EXTRAS_KEY, candidate)
    if winner is not candidate:
        candidate.close()
    assert isinstance(winner, JwksCache)
    return winner
