"""Azure Auth configuration (one row per identity) and the one-time-use record of Azure tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.auth.config_model import MethodConfigMixin
from tessera.auth.methods import register_method
from tessera.store.base import Base, IdMixin, UTCDateTime

METHOD = "azure-auth"
DEFAULT_RESOURCE = "https://management.azure.com/"


class IdentityAzureAuth(MethodConfigMixin, Base):
    """Lists hold normalised values (GUIDs lowercase, no braces); Infisical stored a comma string."""

    __tablename__ = "identity_azure_auths"

    # The first entry is Infisical's single `tenantId`; more entries accept several tenants.
    tenant_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    cloud: Mapped[str] = mapped_column(String(16), nullable=False, default="public")
    resource: Mapped[str] = mapped_column(String(512), nullable=False, default=DEFAULT_RESOURCE)
    allowed_service_principal_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    allowed_client_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # Off by default: an empty allow-list means nobody, unlike Infisical's "whole tenant".
    allow_any_principal_in_tenant: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    allowed_subscription_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    allowed_resource_groups: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    allowed_resource_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    max_token_age_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    one_time_use: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class AzureUsedToken(IdMixin, Base):
    """An Azure token (`uti`) already exchanged by an identity with one-time use on.

    The unique constraint makes "use it once" a single INSERT that either succeeds or fails, on
    SQLite and PostgreSQL alike. Rows are only needed until the token could no longer verify
    (`expires_at` = its exp plus the verifier's leeway) and are purged after that.
    """

    __tablename__ = "azure_used_tokens"
    __table_args__ = (UniqueConstraint("identity_id", "uti"),)

    identity_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("identities.id", ondelete="CASCADE"), nullable=False
    )
    uti: Mapped[str] = mapped_column(String(128), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


register_method(METHOD, IdentityAzureAuth)
