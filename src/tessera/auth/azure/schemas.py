"""Wire schemas for Azure Auth: Infisical's field names plus Tessera's additions.

Every identifier is validated and normalised here, once, at save time: GUIDs lowercase without
braces, resource IDs checked to be ARM resource IDs, the resource trimmed. Lists are accepted as
JSON lists or as Infisical's comma-separated strings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from tessera.auth.azure.clouds import Cloud
from tessera.auth.azure.ids import (
    normalise_guid,
    normalise_guids,
    normalise_resource_group,
    normalise_resource_id,
    split_list,
)
from tessera.auth.azure.models import DEFAULT_RESOURCE
from tessera.auth.policy import TokenPolicyIn, TokenPolicyPatch

MAX_RESOURCE_LENGTH = 512
MAX_LIST_ITEMS = 200
# A managed-identity token lives about 24 h; a max age above that never rejects anything.
MAX_TOKEN_AGE_BOUND = 86_400


def _resource(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("resource must not be empty")
    if len(text) > MAX_RESOURCE_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ValueError(f"resource must be at most {MAX_RESOURCE_LENGTH} characters without spaces")
    return text


def _bounded(items: list[str], name: str) -> list[str]:
    if len(items) > MAX_LIST_ITEMS:
        raise ValueError(f"{name} accepts at most {MAX_LIST_ITEMS} entries")
    return items


def _guids(value: Any, name: str) -> list[str] | None:
    return None if value is None else _bounded(normalise_guids(value), name)


def _groups(value: Any) -> list[str] | None:
    if value is None:
        return None
    groups: list[str] = []
    for item in split_list(value):
        group = normalise_resource_group(item)
        if group.casefold() not in {g.casefold() for g in groups}:
            groups.append(group)
    return _bounded(groups, "allowedResourceGroups")


def _resource_ids(value: Any) -> list[str] | None:
    if value is None:
        return None
    result: list[str] = []
    for item in split_list(value):
        resource_id = normalise_resource_id(item)
        if resource_id.casefold() not in {r.casefold() for r in result}:
            result.append(resource_id)
    return _bounded(result, "allowedResourceIds")


class AzureFieldsIn(BaseModel):
    """The Azure-specific fields, shared by attach (defaults) and update (None = unchanged)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    tenant_id: str | None = Field(None, description="Entra tenant (directory) ID, a GUID.")
    tenant_ids: list[str] | None = Field(
        None, description="Several tenant IDs; a token's `tid` must be one of them (with tenantId)."
    )
    allowed_service_principal_ids: list[str] | None = Field(
        None,
        description=(
            "Object (principal) IDs allowed to log in, matched against the token's `oid`; a list or "
            "a comma-separated string. Empty denies everyone unless allowAnyPrincipalInTenant is true."
        ),
    )
    allowed_client_ids: list[str] | None = Field(
        None, description="Client (application) IDs allowed, matched against `appid` (v1) / `azp` (v2)."
    )
    allow_any_principal_in_tenant: bool | None = Field(
        None, description="Allow any principal of the tenant(s) whose token has the right audience."
    )
    allowed_subscription_ids: list[str] | None = Field(
        None, description="Subscriptions the calling resource (xms_az_rid, else xms_mirid) must be in."
    )
    allowed_resource_groups: list[str] | None = Field(
        None, description="Resource groups the calling resource must be in (case-insensitive)."
    )
    allowed_resource_ids: list[str] | None = Field(
        None, description="Resource-ID prefixes (whole segments, case-insensitive) of the calling resource."
    )
    max_token_age_seconds: int | None = Field(
        None,
        ge=0,
        le=MAX_TOKEN_AGE_BOUND,
        description="Reject Azure tokens issued longer ago (0 = no limit).",
    )
    one_time_use: bool | None = Field(
        None, description="Accept each Azure token (`uti`) once; records are kept until it expires."
    )
    cloud: Cloud | None = Field(None, description="public, usgovernment or china.")

    @field_validator("tenant_id", mode="before")
    @classmethod
    def _tenant(cls, value: Any) -> str | None:
        return None if value is None else normalise_guid(str(value))

    @field_validator("tenant_ids", mode="before")
    @classmethod
    def _tenants(cls, value: Any) -> list[str] | None:
        return _guids(value, "tenantIds")

    @field_validator("allowed_service_principal_ids", mode="before")
    @classmethod
    def _principals(cls, value: Any) -> list[str] | None:
        return _guids(value, "allowedServicePrincipalIds")

    @field_validator("allowed_client_ids", mode="before")
    @classmethod
    def _clients(cls, value: Any) -> list[str] | None:
        return _guids(value, "allowedClientIds")

    @field_validator("allowed_subscription_ids", mode="before")
    @classmethod
    def _subscriptions(cls, value: Any) -> list[str] | None:
        return _guids(value, "allowedSubscriptionIds")

    @field_validator("allowed_resource_groups", mode="before")
    @classmethod
    def _resource_groups(cls, value: Any) -> list[str] | None:
        return _groups(value)

    @field_validator("allowed_resource_ids", mode="before")
    @classmethod
    def _resource_id_prefixes(cls, value: Any) -> list[str] | None:
        return _resource_ids(value)

    def tenants(self) -> list[str] | None:
        """tenantId first, then tenantIds; None when neither was sent."""
        if self.tenant_id is None and self.tenant_ids is None:
            return None
        merged = [self.tenant_id] if self.tenant_id else []
        merged += [t for t in self.tenant_ids or [] if t not in merged]
        return _bounded(merged, "tenantIds")


class AzureAuthAttachIn(TokenPolicyIn, AzureFieldsIn):
    resource: str = Field(
        DEFAULT_RESOURCE, description="Expected audience (`aud`) of the Azure token; trimmed when saved."
    )

    @field_validator("resource")
    @classmethod
    def _check_resource(cls, value: str) -> str:
        return _resource(value)

    @model_validator(mode="after")
    def _needs_tenant(self) -> AzureAuthAttachIn:
        if not self.tenants():
            raise ValueError("tenantId (or tenantIds) is required")
        return self


class AzureAuthPatchIn(TokenPolicyPatch, AzureFieldsIn):
    resource: str | None = Field(None, description="Expected audience (`aud`) of the Azure token.")

    @field_validator("resource")
    @classmethod
    def _check_resource(cls, value: str | None) -> str | None:
        return None if value is None else _resource(value)

    @model_validator(mode="after")
    def _tenants_not_emptied(self) -> AzureAuthPatchIn:
        if self.tenants() == []:
            raise ValueError("at least one tenant ID is required")
        return self


class AzureLoginIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity_id: str = Field(alias="identityId", description="The identity to log in as.")
    jwt: str = Field(description="The managed-identity access token from Entra ID (IMDS etc.).")
    organization_slug: str | None = Field(
        None, alias="organizationSlug", description="Accepted for compatibility; not used."
    )

    @field_validator("identity_id")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class AzureExplainIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    jwt: str = Field(description="The Azure token to check against this identity's configuration.")
