"""The access-token policy every auth method shares: TTL, max TTL, use limit, trusted IPs.

Defined once here and used by every method's schemas and services, so the bounds, defaults and
the TTL ≤ max-TTL rule cannot drift between methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from tessera.auth.trusted_ips import ALLOW_ALL, InvalidTrustedIp, parse_entries
from tessera.errors import ValidationFailure

DEFAULT_TTL = 2_592_000  # 30 days, the documented default
DEFAULT_MAX_TTL = 2_592_000
MAX_TTL_BOUND = 315_360_000  # 10 years: the largest TTL accepted anywhere


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    ttl: int = DEFAULT_TTL
    max_ttl: int = DEFAULT_MAX_TTL
    num_uses_limit: int = 0
    trusted_ips: list[dict[str, Any]] = field(default_factory=lambda: [dict(e) for e in ALLOW_ALL])

    def validate(self) -> TokenPolicy:
        """Raises ValidationFailure naming the field when the combination is not allowed."""
        if not 0 <= self.ttl <= MAX_TTL_BOUND:
            raise ValidationFailure(
                "accessTokenTTL", f"Access Token TTL must be between 0 and {MAX_TTL_BOUND}"
            )
        if not 0 <= self.max_ttl <= MAX_TTL_BOUND:
            raise ValidationFailure(
                "accessTokenMaxTTL", f"Access Token Max TTL must be between 0 and {MAX_TTL_BOUND}"
            )
        if self.num_uses_limit < 0:
            raise ValidationFailure("accessTokenNumUsesLimit", "Access Token Max Number of Uses must be >= 0")
        # Max TTL 0 means "no maximum", so any TTL fits under it.
        if self.max_ttl > 0 and self.ttl > self.max_ttl:
            raise ValidationFailure(
                "accessTokenTTL", "Access Token TTL cannot be greater than Access Token Max TTL."
            )
        if not self.trusted_ips:
            raise ValidationFailure("accessTokenTrustedIps", "At least one trusted IP entry is required")
        return self

    def expiry_from(self, start: datetime) -> datetime | None:
        return start + timedelta(seconds=self.ttl) if self.ttl > 0 else None

    def max_expiry_from(self, created: datetime) -> datetime | None:
        return created + timedelta(seconds=self.max_ttl) if self.max_ttl > 0 else None


def _wire_config() -> ConfigDict:
    return ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class TrustedIpIn(BaseModel):
    ip_address: str = Field(alias="ipAddress", description="An IPv4/IPv6 address or CIDR block.")


def _check_ips(value: list[TrustedIpIn] | None, name: str) -> list[TrustedIpIn] | None:
    if value is None:
        return None
    if not value:
        raise ValueError(f"{name} needs at least one entry")
    try:
        parse_entries([{"ipAddress": item.ip_address} for item in value])
    except InvalidTrustedIp as exc:
        raise ValueError(str(exc)) from exc
    return value


class TokenPolicyIn(BaseModel):
    """The four policy fields as every method's attach request takes them (defaults applied)."""

    model_config = _wire_config()

    access_token_ttl: int = Field(
        DEFAULT_TTL,
        ge=0,
        le=MAX_TTL_BOUND,
        alias="accessTokenTTL",
        description="Lifetime of each token, seconds.",
    )
    access_token_max_ttl: int = Field(
        DEFAULT_MAX_TTL,
        ge=0,
        le=MAX_TTL_BOUND,
        alias="accessTokenMaxTTL",
        description="Absolute limit on a token's lifetime through renewals, seconds (0 = none).",
    )
    access_token_num_uses_limit: int = Field(
        0, ge=0, alias="accessTokenNumUsesLimit", description="Requests a token may make (0 = unlimited)."
    )
    access_token_trusted_ips: list[TrustedIpIn] = Field(
        default_factory=lambda: [TrustedIpIn(ipAddress="0.0.0.0/0"), TrustedIpIn(ipAddress="::/0")],
        alias="accessTokenTrustedIps",
        description="Addresses or CIDRs the token may be used from.",
    )

    @field_validator("access_token_trusted_ips")
    @classmethod
    def _ips(cls, value: list[TrustedIpIn]) -> list[TrustedIpIn]:
        checked = _check_ips(value, "accessTokenTrustedIps")
        assert checked is not None
        return checked

    @model_validator(mode="after")
    def _ttl_within_max(self) -> TokenPolicyIn:
        if self.access_token_max_ttl > 0 and self.access_token_ttl > self.access_token_max_ttl:
            raise ValueError("Access Token TTL cannot be greater than Access Token Max TTL.")
        return self

    def to_policy(self) -> TokenPolicy:
        return TokenPolicy(
            ttl=self.access_token_ttl,
            max_ttl=self.access_token_max_ttl,
            num_uses_limit=self.access_token_num_uses_limit,
            trusted_ips=parse_entries([{"ipAddress": i.ip_address} for i in self.access_token_trusted_ips]),
        ).validate()


class TokenPolicyPatch(BaseModel):
    """The same fields for an update: anything omitted keeps its stored value."""

    model_config = _wire_config()

    access_token_ttl: int | None = Field(None, ge=0, le=MAX_TTL_BOUND, alias="accessTokenTTL")
    access_token_max_ttl: int | None = Field(None, ge=0, le=MAX_TTL_BOUND, alias="accessTokenMaxTTL")
    access_token_num_uses_limit: int | None = Field(None, ge=0, alias="accessTokenNumUsesLimit")
    access_token_trusted_ips: list[TrustedIpIn] | None = Field(None, alias="accessTokenTrustedIps")

    @field_validator("access_token_trusted_ips")
    @classmethod
    def _ips(cls, value: list[TrustedIpIn] | None) -> list[TrustedIpIn] | None:
        return _check_ips(value, "accessTokenTrustedIps")

    def apply_to(self, current: TokenPolicy) -> TokenPolicy:
        """Merge onto the stored policy and validate; omitted fields keep their stored value."""
        ips = (
            parse_entries([{"ipAddress": i.ip_address} for i in self.access_token_trusted_ips])
            if self.access_token_trusted_ips is not None
            else current.trusted_ips
        )
        return TokenPolicy(
            ttl=self.access_token_ttl if self.access_token_ttl is not None else current.ttl,
            max_ttl=self.access_token_max_ttl if self.access_token_max_ttl is not None else current.max_ttl,
            num_uses_limit=(
                self.access_token_num_uses_limit
                if self.access_token_num_uses_limit is not None
                else current.num_uses_limit
            ),
            trusted_ips=ips,
        ).validate()


def policy_to_wire(policy: TokenPolicy) -> dict[str, Any]:
    return {
        "accessTokenTTL": policy.ttl,
        "accessTokenMaxTTL": policy.max_ttl,
        "accessTokenNumUsesLimit": policy.num_uses_limit,
        "accessTokenTrustedIps": policy.trusted_ips,
    }
