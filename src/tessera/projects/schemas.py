"""Wire schemas for projects and environments."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tessera.text import is_slug


def _slug(value: str | None) -> str | None:
    if value is not None and not is_slug(value):
        raise ValueError("must be lowercase letters, digits and single hyphens (e.g. my-project)")
    return value


def _display_name(value: str | None) -> str | None:
    # min_length alone lets "   " through, which the services would store as an empty name.
    if value is not None and not value.strip():
        raise ValueError("name must not be blank")
    return value.strip() if value is not None else None


class ProjectCreateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    project_name: str = Field(alias="projectName", min_length=1, max_length=64, description="Display name.")
    slug: str | None = Field(
        None, min_length=1, max_length=64, description="URL slug; derived from the name if absent."
    )
    project_description: str | None = Field(None, alias="projectDescription", max_length=1024)
    organization_id: str | None = Field(
        None, alias="organizationId", description="Must be the caller's organisation."
    )
    type: str = Field(
        "secret-manager", description="Project type; only secret-manager and kms are supported."
    )

    @field_validator("project_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("projectName must not be blank")
        return value.strip()

    @field_validator("slug")
    @classmethod
    def _check_slug(cls, value: str | None) -> str | None:
        return _slug(value)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in {"secret-manager", "kms"}:
            raise ValueError("type must be secret-manager or kms")
        return value


class ProjectUpdateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = Field(None, max_length=1024)
    slug: str | None = Field(None, min_length=1, max_length=64)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _display_name(value)

    @field_validator("slug")
    @classmethod
    def _check_slug(cls, value: str | None) -> str | None:
        return _slug(value)


class EnvironmentCreateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64)
    slug: str = Field(min_length=1, max_length=64)
    position: int | None = Field(None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        checked = _display_name(value)
        assert checked is not None
        return checked

    @field_validator("slug")
    @classmethod
    def _check_slug(cls, value: str) -> str:
        checked = _slug(value)
        assert checked is not None
        return checked


class EnvironmentUpdateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(None, min_length=1, max_length=64)
    slug: str | None = Field(None, min_length=1, max_length=64)
    position: int | None = Field(None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _display_name(value)

    @field_validator("slug")
    @classmethod
    def _check_slug(cls, value: str | None) -> str | None:
        return _slug(value)
