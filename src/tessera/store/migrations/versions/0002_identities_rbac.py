"""identity management, roles, custom roles, project memberships

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tessera.store.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "org_roles",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_org_roles_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_roles")),
        sa.UniqueConstraint("org_id", "slug", name=op.f("uq_org_roles_org_id")),
    )
    with op.batch_alter_table("org_roles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_roles_org_id"), ["org_id"], unique=False)

    op.create_table(
        "project_roles",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_roles_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_roles")),
        sa.UniqueConstraint("project_id", "slug", name=op.f("uq_project_roles_project_id")),
    )
    with op.batch_alter_table("project_roles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_roles_project_id"), ["project_id"], unique=False)

    op.create_table(
        "identity_project_memberships",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("identity_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_identity_project_memberships_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_identity_project_memberships_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_project_memberships")),
        sa.UniqueConstraint(
            "project_id", "identity_id", name=op.f("uq_identity_project_memberships_project_id")
        ),
    )
    with op.batch_alter_table("identity_project_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_project_memberships_identity_id"), ["identity_id"], unique=False
        )

    op.create_table(
        "identity_project_membership_roles",
        sa.Column("membership_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("custom_role_id", sa.String(length=36), nullable=True),
        sa.Column("is_temporary", sa.Boolean(), nullable=False),
        sa.Column("temporary_mode", sa.String(length=16), nullable=True),
        sa.Column("temporary_range", sa.String(length=32), nullable=True),
        sa.Column(
            "temporary_access_start_time", tessera.store.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("temporary_access_end_time", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["custom_role_id"],
            ["project_roles.id"],
            name="fk_identity_project_membership_roles_custom_role",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["identity_project_memberships.id"],
            name="fk_identity_project_membership_roles_membership",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_project_membership_roles")),
    )
    with op.batch_alter_table("identity_project_membership_roles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_project_membership_roles_custom_role_id"),
            ["custom_role_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_identity_project_membership_roles_membership_id"), ["membership_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_project_membership_roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_project_membership_roles_membership_id"))
        batch_op.drop_index(batch_op.f("ix_identity_project_membership_roles_custom_role_id"))
    op.drop_table("identity_project_membership_roles")

    with op.batch_alter_table("identity_project_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_project_memberships_identity_id"))
    op.drop_table("identity_project_memberships")

    with op.batch_alter_table("project_roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_roles_project_id"))
    op.drop_table("project_roles")

    with op.batch_alter_table("org_roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_roles_org_id"))
    op.drop_table("org_roles")
