"""Wire schemas for bootstrap and organisations."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

MIN_PASSWORD_LENGTH = 12


class BootstrapIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: EmailStr = Field(description="Email of the first administrator.")
    password: str = Field(
        min_length=MIN_PASSWORD_LENGTH, max_length=256, description="Password of the first administrator."
    )
    organization: str = Field(min_length=1, max_length=64, description="Name of the first organisation.")

    @field_validator("organization")
    @classmethod
    def _org_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("organization must not be blank")
        return value

    @field_validator("password")
    @classmethod
    def _strong_enough(cls, value: str) -> str:
        if len(set(value)) < 6:
            raise ValueError("password is too simple: use at least 6 different characters")
        return value
