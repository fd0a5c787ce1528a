"""Universal Auth configuration (one per identity) and its client secrets (stored only as keyed hashes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.auth.config_model import MethodConfigMixin
from tessera.auth.methods import register_method
from tessera.auth.trusted_ips import ALLOW_ALL
from tessera.store.base import Base, IdMixin, TimestampMixin, UTCDateTime, new_id

METHOD = "universal-auth"

DEFAULT_LOCKOUT_THRESHOLD = 3
DEFAULT_LOCKOUT_DURATION = 300
DEFAULT_LOCKOUT_COUNTER_RESET = 30


class IdentityUniversalAuth(MethodConfigMixin, Base):
    __tablename__ = "identity_universal_auths"

    # A random UUIDv4 chosen at attach time; it never changes and names the config at login.
    client_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True, default=new_id)
    # Addresses allowed to log in (the access-token trusted IPs govern using the tokens).
    client_secret_trusted_ips: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, nullable=False, default=lambda: [dict(e) for e in ALLOW_ALL]
    )
    lockout_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    lockout_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_LOCKOUT_THRESHOLD)
    lockout_duration_seconds: Mapped[int] = mapped_column(
        Integer, nullable=False, default=DEFAULT_LOCKOUT_DURATION
    )
    lockout_counter_reset_seconds: Mapped[int] = mapped_column(
        Integer, nullable=False, default=DEFAULT_LOCKOUT_COUNTER_RESET
    )
    # Lockout state lives on the config row (one client id per config), so that counting a
    # failure is one conditional UPDATE with no separate record to create or race on.
    lockout_failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lockout_window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdentityUAClientSecret(IdMixin, TimestampMixin, Base):
    __tablename__ = "identity_ua_client_secrets"

    identity_ua_id: Mapped[str] = mapped_column(
        ForeignKey("identity_universal_auths.id", ondelete="CASCADE"), nullable=False, index=True
    )
    description: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    # The first characters of the plaintext: shown to people to tell secrets apart, and used to
    # narrow the candidates at login before the constant-time comparison.
    secret_prefix: Mapped[str] = mapped_column(String(8), nullable=False)
    # HMAC-SHA256 of the plaintext under a key derived from the server secret.
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    num_uses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    num_uses_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ttl_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # created_at + ttl, stored so that the login's conditional UPDATE can test it in SQL.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    is_revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


register_method(METHOD, IdentityUniversalAuth)
