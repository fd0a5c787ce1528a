"""Entra ID key documents shared between replicas through Redis.

Each replica caches signing keys in memory. With Redis, a replica that fetched a tenant's key
document also publishes it, so that the other replicas use it instead of fetching their own
(one fetch per tenant per TTL for the whole deployment, not per replica), and a replica that
starts during an Entra outage can still verify tokens with keys another replica fetched before.

Redis is not trusted with the keys: each document is stored with an HMAC (a key derived from
the server secret) over the document and the time it was fetched, and one that does not verify
is ignored. Someone able to write to Redis can therefore delete documents (the replicas then
fetch from Entra as without Redis) but cannot add a signing key or make an old document look
newer. Every Redis failure is treated as "no shared document".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tessera.crypto.secrets_hash import derive_key
from tessera.shared_state.redis_store import RedisStore, SharedStateUnavailable

logger = logging.getLogger("tessera.shared_state")


@dataclass(frozen=True, slots=True)
class SharedDocument:
    body: bytes
    fetched_at: datetime


class SharedKeyDocuments:
    def __init__(self, store: RedisStore, server_secret: bytes, *, keep_for: timedelta) -> None:
        self._store = store
        self._key = derive_key(server_secret, "shared-jwks-documents")
        self._keep_ms = int(keep_for.total_seconds() * 1000)

    def _redis_key(self, authority: str, tenant_id: str) -> str:
        name = hashlib.sha256(f"{authority}\x00{tenant_id}".encode()).hexdigest()
        return self._store.key("jwks", name)

    def _mac(self, authority: str, tenant_id: str, payload: bytes) -> str:
        message = authority.encode() + b"\x00" + tenant_id.encode() + b"\x00" + payload
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def load(self, authority: str, tenant_id: str) -> SharedDocument | None:
        """The document another replica published, or None (none, unreadable, forged, Redis away)."""
        try:
            raw = self._store.run(lambda client: client.get(self._redis_key(authority, tenant_id)))
        except SharedStateUnavailable:
            return None
        if not isinstance(raw, bytes) or b"." not in raw:
            return None
        mac, _, payload = raw.partition(b".")
        if not hmac.compare_digest(mac.decode(errors="replace"), self._mac(authority, tenant_id, payload)):
            logger.warning(
                "ignored a shared key document for tenant %s that failed its integrity check", tenant_id
            )
            return None
        try:
            data = json.loads(payload)
            return SharedDocument(
                body=base64.b64decode(data["body"]),
                fetched_at=datetime.fromtimestamp(data["fetched_at_ms"] / 1000, UTC),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def publish(self, authority: str, tenant_id: str, body: bytes, fetched_at: datetime) -> None:
        """Share a freshly fetched document; a Redis failure only means the others fetch their own."""
        payload = json.dumps(
            {"fetched_at_ms": int(fetched_at.timestamp() * 1000), "body": base64.b64encode(body).decode()},
            separators=(",", ":"),
        ).encode()
        value = self._mac(authority, tenant_id, payload).encode() + b"." + payload
        key = self._redis_key(authority, tenant_id)
        try:
            self._store.run(lambda client: client.set(key, value, px=self._keep_ms))
        except SharedStateUnavailable:
            return
