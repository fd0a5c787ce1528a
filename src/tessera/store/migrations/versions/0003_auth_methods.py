"""universal auth, token auth, refresh-token credentials, lockout

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tessera.store.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _policy_columns() -> list[sa.Column[object]]:
    """The token-policy and bookkeeping columns every method's config table shares."""
    return [
        sa.Column("access_token_ttl", sa.Integer(), nullable=False),
        sa.Column("access_token_max_ttl", sa.Integer(), nullable=False),
        sa.Column("access_token_num_uses_limit", sa.Integer(), nullable=False),
        sa.Column("access_token_trusted_ips", sa.JSON(), nullable=False),
        sa.Column("identity_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
    ]


def _config_constraints(table: str) -> list[sa.Constraint]:
    return [
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f(f"fk_{table}_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("identity_id", name=op.f(f"uq_{table}_identity_id")),
    ]


def upgrade() -> None:
    op.create_table(
        "identity_universal_auths",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("client_secret_trusted_ips", sa.JSON(), nullable=False),
        sa.Column("lockout_enabled", sa.Boolean(), nullable=False),
        sa.Column("lockout_threshold", sa.Integer(), nullable=False),
        sa.Column("lockout_duration_seconds", sa.Integer(), nullable=False),
        sa.Column("lockout_counter_reset_seconds", sa.Integer(), nullable=False),
        sa.Column("lockout_failed_attempts", sa.Integer(), nullable=False),
        sa.Column("lockout_window_started_at", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        *_policy_columns(),
        *_config_constraints("identity_universal_auths"),
        sa.UniqueConstraint("client_id", name=op.f("uq_identity_universal_auths_client_id")),
    )
    op.create_table(
        "identity_ua_client_secrets",
        sa.Column("identity_ua_id", sa.String(length=36), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("secret_prefix", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("num_uses", sa.Integer(), nullable=False),
        sa.Column("num_uses_limit", sa.Integer(), nullable=False),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("is_revoked", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_ua_id"],
            ["identity_universal_auths.id"],
            name=op.f("fk_identity_ua_client_secrets_identity_ua_id_identity_universal_auths"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_ua_client_secrets")),
    )
    with op.batch_alter_table("identity_ua_client_secrets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_ua_client_secrets_identity_ua_id"), ["identity_ua_id"], unique=False
        )

    op.create_table(
        "identity_token_auths",
        *_policy_columns(),
        *_config_constraints("identity_token_auths"),
    )

    op.create_table(
        "identity_refresh_token_auths",
        sa.Column("rotation_enabled", sa.Boolean(), nullable=False),
        sa.Column("expires_at", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("refresh_token_usage_count", sa.Integer(), nullable=False),
        sa.Column("refresh_token_last_used_at", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        *_policy_columns(),
        *_config_constraints("identity_refresh_token_auths"),
    )
    op.create_table(
        "identity_refresh_tokens",
        sa.Column("config_id", sa.String(length=36), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("last_used_at", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rotated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["identity_refresh_token_auths.id"],
            name=op.f("fk_identity_refresh_tokens_config_id_identity_refresh_token_auths"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_refresh_tokens")),
    )
    with op.batch_alter_table("identity_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_refresh_tokens_config_id"), ["config_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("identity_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_refresh_tokens_config_id"))
    op.drop_table("identity_refresh_tokens")
    op.drop_table("identity_refresh_token_auths")
    op.drop_table("identity_token_auths")
    with op.batch_alter_table("identity_ua_client_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_ua_client_secrets_identity_ua_id"))
    op.drop_table("identity_ua_client_secrets")
    op.drop_table("identity_universal_auths")
