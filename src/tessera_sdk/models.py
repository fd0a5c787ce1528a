"""Typed views of the server's JSON. Unknown fields are ignored so newer servers stay readable."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python; extra fields are dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class TokenGrant(WireModel):
    """A login or renew answer: `expires_in` 0 means the token does not expire."""

    access_token: str = Field(repr=False)
    expires_in: int = 0
    access_token_max_ttl: int = Field(
        0, validation_alias=AliasChoices("accessTokenMaxTTL", "access_token_max_ttl")
    )
    token_type: str = "Bearer"  # noqa: S105 (the scheme name)


class Tag(WireModel):
    id: str = ""
    slug: str = ""
    name: str = ""
    color: str | None = None


class SecretMetadata(WireModel):
    key: str
    value: str = ""
    is_encrypted: bool = False


class Secret(WireModel):
    """One secret. `value` is None when the server hid it (no permission to read values)."""

    id: str = ""
    key: str = Field(validation_alias=AliasChoices("secretKey", "key"))
    value: str | None = Field(default=None, repr=False, validation_alias=AliasChoices("secretValue", "value"))
    value_hidden: bool = Field(False, validation_alias=AliasChoices("secretValueHidden", "value_hidden"))
    comment: str = Field("", validation_alias=AliasChoices("secretComment", "comment"))
    path: str = Field("/", validation_alias=AliasChoices("secretPath", "path"))
    environment: str = ""
    workspace: str = ""
    version: int = 1
    type: str = "shared"
    tags: list[Tag] = Field(default_factory=list)
    secret_metadata: list[SecretMetadata] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None

    def model_post_init(self, context: Any, /) -> None:
        if self.value_hidden and self.value is not None:
            # The server sends a mask string in place of a hidden value; never hand that out as data.
            object.__setattr__(self, "value", None)


class SecretImport(WireModel):
    secret_path: str = "/"  # noqa: S105 (a folder path)
    environment: str = ""
    secrets: list[Secret] = Field(default_factory=list)


class SecretList(BaseModel):
    """A list answer. With `If-None-Match`, `not_modified` is True and `secrets` is empty."""

    model_config = ConfigDict(frozen=True)

    secrets: list[Secret] = Field(default_factory=list)
    imports: list[SecretImport] = Field(default_factory=list)
    etag: str | None = None
    not_modified: bool = False

    def as_dict(self) -> dict[str, str]:
        """KEY → value, imports first so that the folder's own secrets win (the CLI's rule)."""
        merged: dict[str, str] = {}
        for group in self.imports:
            merged.update({s.key: s.value for s in group.secrets if s.value is not None})
        merged.update({s.key: s.value for s in self.secrets if s.value is not None})
        return merged


class Folder(WireModel):
    id: str
    name: str
    path: str | None = None
    parent_id: str | None = None
    env_id: str | None = None
    description: str | None = None
    version: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class KmsKey(WireModel):
    id: str
    name: str
    project_id: str = ""
    org_id: str = ""
    description: str | None = None
    is_disabled: bool = False
    key_usage: str = "encrypt-decrypt"
    encryption_algorithm: str = "aes-256-gcm"
    version: int = 1
