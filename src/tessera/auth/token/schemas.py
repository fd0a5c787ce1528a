"""Wire schemas for Token Auth: the shared policy for the config, and token create/update bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tessera.auth.policy import TokenPolicyIn, TokenPolicyPatch


class TokenAuthAttachIn(TokenPolicyIn):
    """Attach body: only the shared token policy."""


class TokenAuthPatchIn(TokenPolicyPatch):
    """Update body: omitted fields keep their stored values."""


class TokenCreateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(None, max_length=255, description="A label for the token.")


class TokenUpdateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(None, max_length=255, description="A new label for the token.")
