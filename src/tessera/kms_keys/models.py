"""KMS keys. Key material is sealed with the project's data key; public keys are stored as DER."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.store.base import Base, IdMixin, TimestampMixin


class KmsKey(IdMixin, TimestampMixin, Base):
    __tablename__ = "kms_keys"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(32), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    key_usage: Mapped[str] = mapped_column(String(32), nullable=False)
    encryption_algorithm: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    sealed_material: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
