"""Azure Auth configuration and replay records

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tessera.store.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_azure_auths",
        sa.Column("tenant_ids", sa.JSON(), nullable=False),
        sa.Column("cloud", sa.String(length=16), nullable=False),
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("allowed_service_principal_ids", sa.JSON(), nullable=False),
        sa.Column("allowed_client_ids", sa.JSON(), nullable=False),
        sa.Column("allow_any_principal_in_tenant", sa.Boolean(), nullable=False),
        sa.Column("allowed_subscription_ids", sa.JSON(), nullable=False),
        sa.Column("allowed_resource_groups", sa.JSON(), nullable=False),
        sa.Column("allowed_resource_ids", sa.JSON(), nullable=False),
        sa.Column("max_token_age_seconds", sa.Integer(), nullable=True),
        sa.Column("one_time_use", sa.Boolean(), nullable=False),
        sa.Column("access_token_ttl", sa.Integer(), nullable=False),
        sa.Column("access_token_max_ttl", sa.Integer(), nullable=False),
        sa.Column("access_token_num_uses_limit", sa.Integer(), nullable=False),
        sa.Column("access_token_trusted_ips", sa.JSON(), nullable=False),
        sa.Column("identity_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_identity_azure_auths_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_azure_auths")),
        sa.UniqueConstraint("identity_id", name=op.f("uq_identity_azure_auths_identity_id")),
    )
    op.create_table(
        "azure_used_tokens",
        sa.Column("identity_id", sa.String(length=36), nullable=False),
        sa.Column("uti", sa.String(length=128), nullable=False),
        sa.Column("expires_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_azure_used_tokens_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_azure_used_tokens")),
        sa.UniqueConstraint("identity_id", "uti", name=op.f("uq_azure_used_tokens_identity_id")),
    )
    with op.batch_alter_table("azure_used_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_azure_used_tokens_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("azure_used_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_azure_used_tokens_expires_at"))
    op.drop_table("azure_used_tokens")
    op.drop_table("identity_azure_auths")
