"""Wire schemas for roles and project identity memberships, and the role objects returned."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tessera.clock import iso_js
from tessera.rbac.models import OrgRole, ProjectRole
from tessera.rbac.roles import CUSTOM, BuiltinRole
from tessera.text import is_slug

RESERVED_SLUGS = frozenset({"admin", "member", "viewer", "no-access", CUSTOM})
RESERVED_MESSAGE = "Please choose a different slug, the slug you have entered is reserved"


def _role_slug(value: str | None) -> str | None:
    if value is None:
        return None
    if not is_slug(value):
        raise ValueError("slug must be lowercase letters, digits and single hyphens")
    if value in RESERVED_SLUGS:
        raise ValueError(RESERVED_MESSAGE)
    return value


class RoleCreateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    slug: str = Field(min_length=1, max_length=64, description="Unique within the org or project.")
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2048)
    permissions: list[Any] = Field(
        description="Infisical JSON rules: [{subject, action, conditions?, inverted?}]."
    )

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        checked = _role_slug(value)
        assert checked is not None
        return checked

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()


class RoleUpdateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    slug: str | None = Field(None, min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2048)
    permissions: list[Any] | None = None

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return _role_slug(value)


_RANGE = re.compile(
    r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?"
    r"|h|hrs?|hours?|d|days?|w|weeks?|y|yrs?|years?)?$",
    re.IGNORECASE,
)
# A year is 365.25 days, as the `ms` package (which Infisical uses) counts it.
_UNIT_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_557_600_000,
}


def parse_range_ms(text: str) -> int | None:
    """`1h`, `7d`, `30m`, `1.5 hours`, `500` (milliseconds) → milliseconds; None if unreadable."""
    match = _RANGE.fullmatch(text.strip())
    if match is None:
        return None
    unit = (match.group("unit") or "ms").lower()
    key = "ms" if unit.startswith("ms") or unit.startswith("milli") else unit[0]
    return int(float(match.group("n")) * _UNIT_MS[key])


class MembershipRoleIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    role: str = Field(min_length=1, max_length=64, description="Built-in or custom project role slug.")
    is_temporary: bool = Field(False, alias="isTemporary")
    temporary_mode: Literal["relative"] | None = Field(None, alias="temporaryMode")
    temporary_range: str | None = Field(
        None, alias="temporaryRange", max_length=32, description="Duration such as 1h, 7d, 30m."
    )
    temporary_access_start_time: datetime | None = Field(None, alias="temporaryAccessStartTime")

    @field_validator("temporary_access_start_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _temporary(self) -> MembershipRoleIn:
        if not self.is_temporary:
            return self
        if (
            self.temporary_mode is None
            or self.temporary_range is None
            or self.temporary_access_start_time is None
        ):
            raise ValueError(
                "temporary roles need temporaryMode, temporaryRange and temporaryAccessStartTime"
            )
        millis = parse_range_ms(self.temporary_range)
        if millis is None or millis <= 0:
            raise ValueError("Temporary range must be a positive number")
        return self

    @property
    def range_ms(self) -> int:
        return parse_range_ms(self.temporary_range or "") or 0


class MembershipCreateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str | None = Field(None, min_length=1, max_length=64, description="Deprecated single role.")
    roles: list[MembershipRoleIn] | None = Field(None, max_length=32)

    def role_specs(self) -> list[MembershipRoleIn]:
        if self.roles:
            return list(self.roles)
        return [MembershipRoleIn(role=self.role or "no-access")]


class MembershipUpdateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    roles: list[MembershipRoleIn] = Field(min_length=1, max_length=32)


# --- role objects on the wire --------------------------------------------------------------------


def org_role_wire(role: OrgRole) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "slug": role.slug,
        "description": role.description,
        "permissions": role.permissions,
        "orgId": role.org_id,
        "createdAt": iso_js(role.created_at),
        "updatedAt": iso_js(role.updated_at),
    }


def project_role_wire(role: ProjectRole) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "slug": role.slug,
        "description": role.description,
        "permissions": role.permissions,
        "projectId": role.project_id,
        "version": 1,
        "createdAt": iso_js(role.created_at),
        "updatedAt": iso_js(role.updated_at),
    }


def builtin_role_wire(role: BuiltinRole, *, owner_key: str, owner_id: str) -> dict[str, Any]:
    """Built-in roles are listed beside custom ones; their id is stable and says what they are."""
    return {
        "id": f"builtin-{role.slug}",
        "name": role.name,
        "slug": role.slug,
        "description": role.description,
        "permissions": [dict(rule) for rule in role.wire_rules],
        owner_key: owner_id,
        "isBuiltin": True,
        "createdAt": None,
        "updatedAt": None,
    }
