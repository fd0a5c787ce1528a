"""Azure clouds: where each one publishes signing keys, and the issuers its tokens carry.

The issuer hosts are identifiers written into signed tokens, never fetched, so they are fixed
here. The authority hosts are fetched from, so they come from settings (an operator may route
them through an egress proxy, and tests point them at a local stand-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tessera.settings import Settings


class Cloud(StrEnum):
    public = "public"
    usgovernment = "usgovernment"
    china = "china"


@dataclass(frozen=True, slots=True)
class IssuerHosts:
    """v1 tokens: `{v1}/{tid}/`; v2 tokens: `{v2}/{tid}/v2.0`."""

    v1: str
    v2: str


# Microsoft's published issuer prefixes per cloud (US Government keeps the global v1 host).
ISSUER_HOSTS: dict[Cloud, IssuerHosts] = {
    Cloud.public: IssuerHosts(v1="https://sts.windows.net", v2="https://login.microsoftonline.com"),
    Cloud.usgovernment: IssuerHosts(v1="https://sts.windows.net", v2="https://login.microsoftonline.us"),
    Cloud.china: IssuerHosts(
        v1="https://sts.chinacloudapi.cn", v2="https://login.partner.microsoftonline.cn"
    ),
}


def authority_host(settings: Settings, cloud: Cloud) -> str:
    """The base URL signing keys are fetched from for `cloud` (no trailing slash)."""
    if cloud is Cloud.usgovernment:
        return settings.azure_usgovernment_authority_host
    if cloud is Cloud.china:
        return settings.azure_china_authority_host
    return settings.azure_authority_host


def keys_url(authority: str, tenant_id: str) -> str:
    """The tenant's JWKS document; v1 and v2 tokens are signed with keys from the same set."""
    return f"{authority}/{tenant_id}/discovery/v2.0/keys"
