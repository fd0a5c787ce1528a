"""Custom roles (organisation and project level) and identities' project memberships.

An identity's organisation role lives on `IdentityOrgMembership` (a built-in slug, or "custom"
with `role_id` naming an `OrgRole`). Its project access is one `IdentityProjectMembership` per
project with one or more `IdentityProjectMembershipRole` rows; each may be temporary, counting
only while now < `temporary_access_end_time`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.store.base import Base, IdMixin, TimestampMixin, UTCDateTime


class OrgRole(IdMixin, TimestampMixin, Base):
    __tablename__ = "org_roles"
    __table_args__ = (UniqueConstraint("org_id", "slug"),)

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    slug: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The validated wire form of the rules (a list of {subject, action, conditions?, inverted}).
    permissions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)


class ProjectRole(IdMixin, TimestampMixin, Base):
    __tablename__ = "project_roles"
    __table_args__ = (UniqueConstraint("project_id", "slug"),)

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    slug: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    permissions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)


class IdentityProjectMembership(IdMixin, TimestampMixin, Base):
    __tablename__ = "identity_project_memberships"
    __table_args__ = (UniqueConstraint("project_id", "identity_id"),)

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    identity_id: Mapped[str] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), nullable=False, index=True
    )


FK_MEMBERSHIP = "fk_identity_project_membership_roles_membership"
FK_CUSTOM_ROLE = "fk_identity_project_membership_roles_custom_role"


class IdentityProjectMembershipRole(IdMixin, TimestampMixin, Base):
    __tablename__ = "identity_project_membership_roles"

    membership_id: Mapped[str] = mapped_column(
        # Named explicitly: the conventional name would pass PostgreSQL's 63-character limit.
        ForeignKey("identity_project_memberships.id", ondelete="CASCADE", name=FK_MEMBERSHIP),
        nullable=False,
        index=True,
    )
    # Built-in slug (admin, member, viewer, no-access) or "custom" with custom_role_id set.
    role: Mapped[str] = mapped_column(String(64), nullable=False)
    custom_role_id: Mapped[str | None] = mapped_column(
        ForeignKey("project_roles.id", ondelete="CASCADE", name=FK_CUSTOM_ROLE), nullable=True, index=True
    )
    is_temporary: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    temporary_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    temporary_range: Mapped[str | None] = mapped_column(String(32), nullable=True)
    temporary_access_start_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    temporary_access_end_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
