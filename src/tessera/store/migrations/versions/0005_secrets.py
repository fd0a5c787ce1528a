"""folders, secrets, versions, imports, tags, project data keys, KMS keys

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tessera.store.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kms_keys",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_disabled", sa.Boolean(), nullable=False),
        sa.Column("key_usage", sa.String(length=32), nullable=False),
        sa.Column("encryption_algorithm", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sealed_material", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_kms_keys_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_kms_keys_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kms_keys")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_kms_keys_project_id")),
    )
    with op.batch_alter_table("kms_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kms_keys_org_id"), ["org_id"], unique=False)

    op.create_table(
        "project_data_keys",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("root_key_id", sa.String(length=16), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_data_keys_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_data_keys")),
        sa.UniqueConstraint("project_id", name=op.f("uq_project_data_keys_project_id")),
    )
    with op.batch_alter_table("project_data_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_data_keys_root_key_id"), ["root_key_id"], unique=False)

    op.create_table(
        "secret_tags",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_secret_tags_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_tags")),
        sa.UniqueConstraint("project_id", "slug", name=op.f("uq_secret_tags_project_id")),
    )
    op.create_table(
        "secret_folders",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("env_id", sa.String(length=36), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_reserved", sa.Boolean(), nullable=False),
        sa.Column("last_secret_modified", tessera.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"],
            ["environments.id"],
            name=op.f("fk_secret_folders_env_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["secret_folders.id"],
            name=op.f("fk_secret_folders_parent_id_secret_folders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_secret_folders_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_folders")),
        sa.UniqueConstraint("env_id", "path", name=op.f("uq_secret_folders_env_id")),
    )
    with op.batch_alter_table("secret_folders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_folders_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_secret_folders_project_id"), ["project_id"], unique=False)

    op.create_table(
        "secret_imports",
        sa.Column("folder_id", sa.String(length=36), nullable=False),
        sa.Column("import_env_id", sa.String(length=36), nullable=False),
        sa.Column("import_path", sa.String(length=1024), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_replication", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["secret_folders.id"],
            name=op.f("fk_secret_imports_folder_id_secret_folders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_env_id"],
            ["environments.id"],
            name=op.f("fk_secret_imports_import_env_id_environments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_imports")),
        sa.UniqueConstraint(
            "folder_id", "import_env_id", "import_path", name=op.f("uq_secret_imports_folder_id")
        ),
    )
    with op.batch_alter_table("secret_imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_imports_import_env_id"), ["import_env_id"], unique=False)

    op.create_table(
        "secrets",
        sa.Column("folder_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("blind_index", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("skip_multiline_encoding", sa.Boolean(), nullable=True),
        sa.Column("reminder_repeat_days", sa.Integer(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["secret_folders.id"],
            name=op.f("fk_secrets_folder_id_secret_folders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
        sa.UniqueConstraint("folder_id", "type", "blind_index", name=op.f("uq_secrets_folder_id")),
    )
    op.create_table(
        "secret_tag_links",
        sa.Column("secret_id", sa.String(length=36), nullable=False),
        sa.Column("tag_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["secret_id"],
            ["secrets.id"],
            name=op.f("fk_secret_tag_links_secret_id_secrets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["secret_tags.id"],
            name=op.f("fk_secret_tag_links_tag_id_secret_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("secret_id", "tag_id", name=op.f("pk_secret_tag_links")),
    )
    with op.batch_alter_table("secret_tag_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_tag_links_tag_id"), ["tag_id"], unique=False)

    op.create_table(
        "secret_versions",
        sa.Column("secret_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("blind_index", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("skip_multiline_encoding", sa.Boolean(), nullable=True),
        sa.Column("reminder_repeat_days", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", tessera.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["secret_id"],
            ["secrets.id"],
            name=op.f("fk_secret_versions_secret_id_secrets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_versions")),
        sa.UniqueConstraint("secret_id", "version", name=op.f("uq_secret_versions_secret_id")),
    )


def downgrade() -> None:
    op.drop_table("secret_versions")
    with op.batch_alter_table("secret_tag_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_tag_links_tag_id"))

    op.drop_table("secret_tag_links")
    op.drop_table("secrets")
    with op.batch_alter_table("secret_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_imports_import_env_id"))

    op.drop_table("secret_imports")
    with op.batch_alter_table("secret_folders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_folders_project_id"))
        batch_op.drop_index(batch_op.f("ix_secret_folders_parent_id"))

    op.drop_table("secret_folders")
    op.drop_table("secret_tags")
    with op.batch_alter_table("project_data_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_data_keys_root_key_id"))

    op.drop_table("project_data_keys")
    with op.batch_alter_table("kms_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kms_keys_org_id"))

    op.drop_table("kms_keys")
