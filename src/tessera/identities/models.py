"""Machine identities, their organisation membership and the access tokens issued to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.store.base import Base, IdMixin, TimestampMixin, UTCDateTime


class Identity(IdMixin, TimestampMixin, Base):
    __tablename__ = "identities"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    has_delete_protection: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # After this moment the identity can neither log in nor use tokens it already holds.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Bumped by "revoke all": tokens minted under an older version stop working at once.
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class IdentityOrgMembership(IdMixin, TimestampMixin, Base):
    __tablename__ = "identity_org_memberships"
    __table_args__ = (UniqueConstraint("org_id", "identity_id"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    identity_id: Mapped[str] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # Built-in slug (admin, member, no-access) or "custom" with role_id naming the custom role.
    role: Mapped[str] = mapped_column(String(64), nullable=False, default="no-access")
    role_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    last_login_auth_method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_login_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdentityMetadata(IdMixin, TimestampMixin, Base):
    __tablename__ = "identity_metadata"

    identity_id: Mapped[str] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), nullable=False, index=True
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[str] = mapped_column(String(1024), nullable=False)


class IdentityAccessToken(IdMixin, TimestampMixin, Base):
    """One row per issued access token; the JWT only names the row.

    `expires_at` and `max_expires_at` are stored (not derived in SQL) so that the per-request
    check is one portable conditional UPDATE on SQLite and PostgreSQL alike.
    """

    __tablename__ = "identity_access_tokens"
    __table_args__ = (Index("ix_identity_access_tokens_identity_method", "identity_id", "auth_method"),)

    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), nullable=False)
    auth_method: Mapped[str] = mapped_column(String(32), nullable=False)
    # Set when minted through a UA client secret (revoking the secret revokes its tokens).
    client_secret_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ttl_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_ttl_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    num_uses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    num_uses_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Snapshot of the method's trusted IPs; updating the method config rewrites these in one UPDATE.
    trusted_ips: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    max_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    is_revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
