"""The database's rate-limit buckets: one row per (rule, client) key, holding its TAT."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.store.base import Base


class RateLimitBucket(Base):
    """A token bucket in GCRA form (see `tessera.ratelimit.rates`).

    The key is a keyed hash of the rule and the client IP or identity, so the table holds no
    addresses. `tat_ms` is milliseconds since the epoch; a row whose TAT has passed is the same
    as no row, which is what lets expired rows be purged at any time.
    """

    __tablename__ = "rate_limit_buckets"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat_ms: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
