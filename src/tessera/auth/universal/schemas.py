"""Wire schemas for Universal Auth: config attach/update, client secrets, login."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from tessera.auth.policy import MAX_TTL_BOUND, TokenPolicyIn, TokenPolicyPatch, TrustedIpIn
from tessera.auth.trusted_ips import InvalidTrustedIp, parse_entries
from tessera.auth.universal.models import (
    DEFAULT_LOCKOUT_COUNTER_RESET,
    DEFAULT_LOCKOUT_DURATION,
    DEFAULT_LOCKOUT_THRESHOLD,
)

# Bounds of the lockout settings, as Infisical validates them.
THRESHOLD_RANGE = (1, 30)
DURATION_RANGE = (30, 86_400)
COUNTER_RESET_RANGE = (5, 3_600)


def _allow_all() -> list[TrustedIpIn]:
    return [TrustedIpIn(ipAddress="0.0.0.0/0"), TrustedIpIn(ipAddress="::/0")]


def parse_trusted_ips(value: list[TrustedIpIn]) -> list[dict[str, Any]]:
    return parse_entries([{"ipAddress": item.ip_address} for item in value])


def _check_client_secret_ips(value: list[TrustedIpIn] | None) -> list[TrustedIpIn] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("clientSecretTrustedIps needs at least one entry")
    try:
        parse_trusted_ips(value)
    except InvalidTrustedIp as exc:
        raise ValueError(str(exc)) from exc
    return value


class UniversalAuthAttachIn(TokenPolicyIn):
    """Attach body: the shared token policy plus who may log in and how failures lock the client out."""

    client_secret_trusted_ips: list[TrustedIpIn] = Field(
        default_factory=_allow_all,
        description="Addresses or CIDRs allowed to log in with this identity's client secrets.",
    )
    lockout_enabled: bool = Field(True, description="Lock logins out after repeated failures.")
    lockout_threshold: int = Field(
        DEFAULT_LOCKOUT_THRESHOLD,
        ge=THRESHOLD_RANGE[0],
        le=THRESHOLD_RANGE[1],
        description="Failed logins within the reset window that trigger a lockout.",
    )
    lockout_duration_seconds: int = Field(
        DEFAULT_LOCKOUT_DURATION,
        ge=DURATION_RANGE[0],
        le=DURATION_RANGE[1],
        description="How long a lockout lasts, seconds.",
    )
    lockout_counter_reset_seconds: int = Field(
        DEFAULT_LOCKOUT_COUNTER_RESET,
        ge=COUNTER_RESET_RANGE[0],
        le=COUNTER_RESET_RANGE[1],
        description="Window, seconds, in which failures are counted towards the threshold.",
    )

    @field_validator("client_secret_trusted_ips")
    @classmethod
    def _secret_ips(cls, value: list[TrustedIpIn]) -> list[TrustedIpIn]:
        checked = _check_client_secret_ips(value)
        assert checked is not None
        return checked


class UniversalAuthPatchIn(TokenPolicyPatch):
    """Update body: every field optional; omitted fields keep their stored values."""

    client_secret_trusted_ips: list[TrustedIpIn] | None = Field(None)
    lockout_enabled: bool | None = Field(None)
    lockout_threshold: int | None = Field(None, ge=THRESHOLD_RANGE[0], le=THRESHOLD_RANGE[1])
    lockout_duration_seconds: int | None = Field(None, ge=DURATION_RANGE[0], le=DURATION_RANGE[1])
    lockout_counter_reset_seconds: int | None = Field(
        None, ge=COUNTER_RESET_RANGE[0], le=COUNTER_RESET_RANGE[1]
    )

    @field_validator("client_secret_trusted_ips")
    @classmethod
    def _secret_ips(cls, value: list[TrustedIpIn] | None) -> list[TrustedIpIn] | None:
        return _check_client_secret_ips(value)


class ClientSecretCreateIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    description: str = Field("", max_length=1024, description="A note to tell secrets apart.")
    num_uses_limit: int = Field(0, ge=0, description="Logins this secret allows (0 = unlimited).")
    ttl: int = Field(0, ge=0, le=MAX_TTL_BOUND, description="Lifetime in seconds (0 = never expires).")


class UniversalAuthLoginIn(BaseModel):
    """Login body, JSON or form-encoded. Lengths are bounded so a login never hashes megabytes."""

    model_config = ConfigDict(extra="ignore")

    client_id: str = Field(alias="clientId", min_length=1, max_length=255)
    client_secret: str = Field(alias="clientSecret", min_length=1, max_length=512)
