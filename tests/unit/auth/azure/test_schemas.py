"""Identifier normalisation and the Azure Auth request schemas (pure, no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tessera.auth.azure.clouds import Cloud, authority_host, keys_url
from tessera.auth.azure.ids import (
    NOT_A_GUID,
    has_prefix,
    normalise_guid,
    normalise_guids,
    normalise_resource_id,
    resource_group_of,
    resource_segments,
    split_list,
    subscription_of,
)
from tessera.auth.azure.schemas import AzureAuthAttachIn, AzureAuthPatchIn, AzureLoginIn
from tests.conftest import make_settings

GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
SUB = "44444444-4444-4444-8444-444444444444"


@pytest.mark.parametrize(
    "text",
    [GUID, GUID.upper(), "{" + GUID + "}", "  {" + GUID.upper() + "}  "],
    ids=["lower", "upper", "braces", "braces_upper_spaces"],
)
def test_guids_are_normalised(text: str) -> None:
    assert normalise_guid(text) == GUID


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        GUID[:-1],
        GUID + "0",
        "{" + GUID,
        GUID + "}",
        GUID.replace("-", ""),
        f"urn:uuid:{GUID}",
        "contoso.com",
    ],
    ids=["empty", "word", "short", "long", "open_brace", "close_brace", "no_hyphens", "urn", "domain"],
)
def test_non_guids_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must be a GUID") as refused:
        normalise_guid(text)
    assert str(refused.value) == NOT_A_GUID  # the same words whatever was sent: nothing echoed


def test_lists_accept_strings_and_lists_and_drop_duplicates() -> None:
    assert split_list(" a, b ,,a ") == ["a", "b"]
    assert split_list(["a", " b", "a"]) == ["a", "b"]
    assert split_list("") == []
    assert split_list(None) == []
    assert normalise_guids(f"{GUID.upper()}, {{{GUID}}}, {OTHER}") == [GUID, OTHER]
    for bad in (7, {"a": 1}, [1]):
        with pytest.raises(ValueError, match="comma-separated"):
            split_list(bad)


RID = f"/subscriptions/{SUB}/resourceGroups/RG-App/providers/Microsoft.Compute/virtualMachines/vm-1"


def test_resource_ids_become_lowercase_segments() -> None:
    segments = resource_segments(RID)
    assert segments is not None
    assert segments[:4] == ("subscriptions", SUB, "resourcegroups", "rg-app")
    assert subscription_of(segments) == SUB
    assert resource_group_of(segments) == "rg-app"
    assert resource_segments(RID + "/") == segments


@pytest.mark.parametrize(
    "value",
    [
        "",
        "subscriptions/" + SUB,
        "/resourceGroups/x",
        "/subscriptions/not-a-guid/resourceGroups/x",
        f"/subscriptions/{SUB}//resourceGroups/x",
        f"/subscriptions/{SUB}/resourceGroups/../x",
        f"/subscriptions/{SUB}/resourceGroups/a b",
        f"/subscriptions/{SUB}/resourceGroups/x?y",
        f"/subscriptions/{SUB}/" + "x" * 2000,
    ],
    ids=[
        "empty",
        "relative",
        "no_subscription",
        "bad_guid",
        "empty_segment",
        "dotdot",
        "space",
        "query",
        "huge",
    ],
)
def test_odd_resource_ids_are_refused(value: str) -> None:
    assert resource_segments(value) is None
    with pytest.raises(ValueError, match="resource ID"):
        normalise_resource_id(value)


def test_prefix_match_is_by_whole_segments() -> None:
    vm = resource_segments(RID)
    assert vm is not None
    group = resource_segments(f"/subscriptions/{SUB}/resourcegroups/rg-app")
    near = resource_segments(f"/subscriptions/{SUB}/resourcegroups/rg-ap")
    assert group is not None
    assert near is not None
    assert has_prefix(vm, group)
    assert not has_prefix(vm, near)
    assert has_prefix(vm, vm)
    assert not has_prefix(group, vm)


def attach_body(**fields: Any) -> dict[str, Any]:
    return {"tenantId": GUID, **fields}


def test_attach_defaults() -> None:
    body = AzureAuthAttachIn.model_validate(attach_body())
    assert body.resource == "https://management.azure.com/"
    assert body.tenants() == [GUID]
    assert body.allowed_service_principal_ids is None
    assert body.to_policy().ttl == 2_592_000


def test_tenant_id_and_tenant_ids_merge_in_order() -> None:
    body = AzureAuthAttachIn.model_validate(attach_body(tenantIds=f"{OTHER},{GUID.upper()}"))
    assert body.tenants() == [GUID, OTHER]
    only_list = AzureAuthAttachIn.model_validate({"tenantIds": [OTHER]})
    assert only_list.tenants() == [OTHER]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"tenantId": None}, id="no_tenant"),
        pytest.param({"tenantId": ""}, id="empty_tenant"),
        pytest.param({"tenantIds": [GUID] * 0, "tenantId": None}, id="empty_list_only"),
        pytest.param({"allowedServicePrincipalIds": [GUID] * 1 + ["x"]}, id="bad_principal"),
        pytest.param(
            {
                "allowedServicePrincipalIds": ",".join(
                    [GUID] * 1 + [f"{i:08d}-0000-4000-8000-000000000000" for i in range(201)]
                )
            },
            id="too_many",
        ),
        pytest.param({"resource": "x" * 513}, id="resource_too_long"),
        pytest.param({"maxTokenAgeSeconds": 86_401}, id="max_age_too_large"),
    ],
)
def test_attach_refuses(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AzureAuthAttachIn.model_validate(attach_body(**fields))


def test_patch_leaves_unsent_fields_alone_and_cannot_empty_the_tenants() -> None:
    patch = AzureAuthPatchIn.model_validate({"oneTimeUse": True})
    assert patch.tenants() is None
    assert patch.resource is None
    assert patch.allowed_service_principal_ids is None
    assert (
        AzureAuthPatchIn.model_validate({"allowedServicePrincipalIds": ""}).allowed_service_principal_ids
        == []
    )
    with pytest.raises(ValidationError):
        AzureAuthPatchIn.model_validate({"tenantIds": ""})


def test_login_body_trims_the_identity_id_and_keeps_the_token_as_sent() -> None:
    body = AzureLoginIn.model_validate(
        {"identityId": f"  {GUID} ", "jwt": "a.b.c", "organizationSlug": "acme"}
    )
    assert (body.identity_id, body.jwt) == (GUID, "a.b.c")


def test_each_cloud_has_its_own_authority_setting(tmp_path: Path) -> None:
    settings = make_settings("sqlite://", tmp_path, azure_authority_host="http://public/")
    assert authority_host(settings, Cloud.public) == "http://public"
    assert authority_host(settings, Cloud.usgovernment) == "https://login.microsoftonline.us"
    assert authority_host(settings, Cloud.china) == "https://login.chinacloudapi.cn"
    assert keys_url("http://public", GUID) == f"http://public/{GUID}/discovery/v2.0/keys"
