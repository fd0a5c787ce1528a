"""Refresh-token credentials: the credential (one per identity) and the refresh tokens it issued.

A credential's refresh tokens form one family: with rotation, each exchange retires the presented
token and issues its successor. Presenting a retired token again is taken as theft, and the whole
family is revoked. Refresh tokens are stored only as keyed hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.auth.config_model import MethodConfigMixin
from tessera.auth.methods import register_method
from tessera.store.base import Base, IdMixin, TimestampMixin, UTCDateTime

METHOD = "refresh-token-auth"

STATUS_ACTIVE = "active"
STATUS_ROTATED = "rotated"  # retired by a rotation; presenting it again is reuse
STATUS_REVOKED = "revoked"


class IdentityRefreshTokenAuth(MethodConfigMixin, Base):
    __tablename__ = "identity_refresh_token_auths"

    rotation_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # After this moment the credential's refresh tokens can no longer be exchanged.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Bumped at each rotation or reissue: the generation of the current refresh token.
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    refresh_token_usage_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    refresh_token_last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdentityRefreshToken(IdMixin, TimestampMixin, Base):
    __tablename__ = "identity_refresh_tokens"

    config_id: Mapped[str] = mapped_column(
        ForeignKey("identity_refresh_token_auths.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # HMAC-SHA256 of the secret part under a key derived from the server secret.
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=STATUS_ACTIVE)
    # The token this one replaced in a rotation (None for the first of a family).
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    use_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


register_method(METHOD, IdentityRefreshTokenAuth)
