"""Folders, secrets (sealed), their versions, imports, tags and the per-project data keys.

No secret name, value or comment is stored in the clear: a secret row holds one AES-GCM blob
(name, value, comment, note and metadata together, so a read is one decrypt) and a keyed blind
index of the name for lookups. Folder paths are not secret (as in Infisical) and stay readable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tessera.store.base import Base, IdMixin, TimestampMixin, UTCDateTime

BLIND_INDEX_CHARS = 64
MAX_PATH_CHARS = 1024


class ProjectDataKey(IdMixin, TimestampMixin, Base):
    """A project's random data key, sealed by a root key (named by `root_key_id`)."""

    __tablename__ = "project_data_keys"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    root_key_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class SecretFolder(IdMixin, TimestampMixin, Base):
    """One folder of an environment's tree; the root (`/`) is a reserved row with no parent."""

    __tablename__ = "secret_folders"
    __table_args__ = (UniqueConstraint("env_id", "path"),)

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    env_id: Mapped[str] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("secret_folders.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    # The full normalised path, kept so that resolving a path is one indexed lookup.
    path: Mapped[str] = mapped_column(String(MAX_PATH_CHARS), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    is_reserved: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_secret_modified: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Secret(IdMixin, TimestampMixin, Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("folder_id", "type", "blind_index"),)

    folder_id: Mapped[str] = mapped_column(
        ForeignKey("secret_folders.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(String(16), nullable=False, default="shared")
    # HMAC of the name under a per-project key: equality lookups without a plaintext name.
    blind_index: Mapped[str] = mapped_column(String(BLIND_INDEX_CHARS), nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    skip_multiline_encoding: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    reminder_repeat_days: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SecretVersion(IdMixin, Base):
    """Every state a secret has had, sealed like the secret itself (its own version in the AAD)."""

    __tablename__ = "secret_versions"
    __table_args__ = (UniqueConstraint("secret_id", "version"),)

    secret_id: Mapped[str] = mapped_column(ForeignKey("secrets.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    blind_index: Mapped[str] = mapped_column(String(BLIND_INDEX_CHARS), nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    skip_multiline_encoding: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    reminder_repeat_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SecretImport(IdMixin, TimestampMixin, Base):
    """A folder that also presents the secrets of another environment/path."""

    __tablename__ = "secret_imports"
    __table_args__ = (UniqueConstraint("folder_id", "import_env_id", "import_path"),)

    folder_id: Mapped[str] = mapped_column(
        ForeignKey("secret_folders.id", ondelete="CASCADE"), nullable=False
    )
    import_env_id: Mapped[str] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    import_path: Mapped[str] = mapped_column(String(MAX_PATH_CHARS), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    is_replication: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class SecretTag(IdMixin, TimestampMixin, Base):
    __tablename__ = "secret_tags"
    __table_args__ = (UniqueConstraint("project_id", "slug"),)

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    slug: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    color: Mapped[str | None] = mapped_column(String(32), nullable=True)


class SecretTagLink(Base):
    __tablename__ = "secret_tag_links"

    secret_id: Mapped[str] = mapped_column(ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[str] = mapped_column(
        ForeignKey("secret_tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
