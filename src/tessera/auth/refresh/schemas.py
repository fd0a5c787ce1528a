"""Wire schemas for refresh-token credentials: attach/update and the exchange body."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tessera.auth.policy import TokenPolicyIn, TokenPolicyPatch
from tessera.clock import as_utc


def _aware(value: datetime | None) -> datetime | None:
    # A timestamp without a zone is taken as UTC, the zone everything is stored in.
    return as_utc(value) if value is not None else None


class RefreshTokenAuthAttachIn(TokenPolicyIn):
    """Attach body: the shared token policy, rotation and an optional expiration."""

    refresh_token_rotation_enabled: bool = Field(
        False, description="Issue a new refresh token at each exchange and retire the presented one."
    )
    expires_at: datetime | None = Field(
        None, description="When the credential stops working (ISO 8601); absent or null = never."
    )

    @field_validator("expires_at")
    @classmethod
    def _zone(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


class RefreshTokenAuthPatchIn(TokenPolicyPatch):
    """Update body: omitted fields keep their values; `expiresAt: null` removes the expiration."""

    refresh_token_rotation_enabled: bool | None = Field(None)
    expires_at: datetime | None = Field(None)

    @field_validator("expires_at")
    @classmethod
    def _zone(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


class RefreshLoginIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    refresh_token: str = Field(alias="refreshToken", min_length=1, max_length=512)
