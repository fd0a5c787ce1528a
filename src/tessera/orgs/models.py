"""People, organisations and the instance's one-time bootstrap marker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.store.base import Base, IdMixin, TimestampMixin, UTCDateTime, utc_now


class InstanceState(Base):
    """A single row whose primary key makes bootstrap succeed exactly once, even under a race."""

    __tablename__ = "instance_state"

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default="instance")
    bootstrapped_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, nullable=False)


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    slug: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class OrgUserMembership(IdMixin, TimestampMixin, Base):
    __tablename__ = "org_user_memberships"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(String(64), nullable=False, default="member")
