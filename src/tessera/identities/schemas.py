"""Wire schemas for managing machine identities (`/api/v1/identities`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SEARCH_TEXT = re.compile(r"^[A-Za-z0-9 _\-/]*$")


def _aware(value: datetime | None) -> datetime | None:
    """A timestamp without a zone is taken as UTC; everything is stored in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _trimmed(value: str, name: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{name} must not be blank")
    return value


class MetadataIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=1, max_length=255, description="Metadata key (trimmed).")
    value: str = Field(min_length=1, max_length=1024, description="Metadata value (trimmed).")

    @field_validator("key", "value")
    @classmethod
    def _trim(cls, value: str) -> str:
        return _trimmed(value, "metadata key and value")


class IdentityCreateIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(min_length=1, max_length=255, description="Display name of the identity.")
    organization_id: str = Field(alias="organizationId", description="Must be the caller's organisation.")
    role: str = Field(
        "no-access", min_length=1, max_length=64, description="Org role slug: built-in or custom."
    )
    has_delete_protection: bool = Field(
        False, alias="hasDeleteProtection", description="When true, DELETE is refused."
    )
    metadata: list[MetadataIn] | None = Field(None, max_length=100, description="Key/value labels.")
    expires_at: datetime | None = Field(
        None,
        alias="expiresAt",
        description="Tessera extension: after this instant the identity can neither log in nor use tokens.",
    )
    is_active: bool = Field(
        True, alias="isActive", description="Tessera extension: false disables the identity and its tokens."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _trimmed(value, "name")

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


class IdentityUpdateIn(BaseModel):
    """Only the fields sent are changed; `expiresAt: null` clears the expiry."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str | None = Field(None, min_length=1, max_length=255)
    role: str | None = Field(None, min_length=1, max_length=64)
    has_delete_protection: bool | None = Field(None, alias="hasDeleteProtection")
    metadata: list[MetadataIn] | None = Field(None, max_length=100, description="Replaces the whole set.")
    expires_at: datetime | None = Field(None, alias="expiresAt")
    is_active: bool | None = Field(
        None, alias="isActive", description="false revokes every token of the identity at once."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _trimmed(value, "name")

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _aware(value)


def _search_text(value: str) -> str:
    if len(value) > 255 or not _SEARCH_TEXT.fullmatch(value):
        raise ValueError("search text allows only letters, digits, spaces, '_', '-' and '/'")
    return value


class NameFilter(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    eq: str | None = Field(None, alias="$eq")
    contains: str | None = Field(None, alias="$contains")
    in_: list[str] | None = Field(None, alias="$in", max_length=100)

    @field_validator("eq", "contains")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _search_text(value)

    @field_validator("in_")
    @classmethod
    def _texts(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_search_text(item) for item in value]


class RoleFilter(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    eq: str | None = Field(None, alias="$eq")
    in_: list[str] | None = Field(None, alias="$in", max_length=100)

    @field_validator("eq")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _search_text(value)

    @field_validator("in_")
    @classmethod
    def _texts(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_search_text(item) for item in value]


class SearchFilter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | NameFilter | None = None
    role: str | RoleFilter | None = None

    @field_validator("name", "role")
    @classmethod
    def _plain(cls, value: str | NameFilter | RoleFilter | None) -> str | NameFilter | RoleFilter | None:
        return _search_text(value) if isinstance(value, str) else value


class IdentitySearchIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    order_by: Literal["name", "role"] = Field("name", alias="orderBy")
    order_direction: Literal["asc", "desc"] = Field("asc", alias="orderDirection")
    limit: int = Field(50, ge=1, le=100)
    offset: int = Field(0, ge=0)
    search: SearchFilter | None = None
