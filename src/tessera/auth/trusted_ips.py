"""Pure trusted-IP handling: parse entries, render them the way Infisical does, match an address."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_ALL: list[dict[str, Any]] = [
    {"ipAddress": "0.0.0.0", "type": "ipv4", "prefix": 0},
    {"ipAddress": "::", "type": "ipv6", "prefix": 0},
]


class InvalidTrustedIp(ValueError):
    pass


def parse_entry(value: str) -> dict[str, Any]:
    """`10.0.0.0/8` → {ipAddress: "10.0.0.0", type: "ipv4", prefix: 8}; a bare address has no prefix."""
    text = value.strip()
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            return {
                "ipAddress": str(network.network_address),
                "type": f"ipv{network.version}",
                "prefix": network.prefixlen,
            }
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise InvalidTrustedIp("The IP is not a valid IPv4, IPv6, or CIDR block") from exc
    return {"ipAddress": str(address), "type": f"ipv{address.version}"}


def parse_entries(values: Iterable[Mapping[str, Any] | str]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for item in values:
        raw = item if isinstance(item, str) else item.get("ipAddress")
        if not isinstance(raw, str):
            raise InvalidTrustedIp("each trusted IP entry needs an ipAddress")
        entries.append(parse_entry(raw))
    return entries


def _network_of(entry: Mapping[str, Any]) -> IPNetwork:
    prefix = entry.get("prefix")
    address = ipaddress.ip_address(entry["ipAddress"])
    if prefix is None:
        prefix = address.max_prefixlen
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def _normalise(address: IPAddress) -> IPAddress:
    # An IPv4-mapped IPv6 address (::ffff:1.2.3.4) is matched against IPv4 rules too.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def ip_allowed(client_ip: str | None, entries: Iterable[Mapping[str, Any]]) -> bool:
    """True when the client address falls in any entry. An unparseable address is never allowed."""
    rules = list(entries)
    if not rules:
        return True
    if client_ip is None:
        return False
    try:
        address = _normalise(ipaddress.ip_address(client_ip.strip()))
    except ValueError:
        return False
    for entry in rules:
        network = _network_of(entry)
        if address.version == network.version and address in network:
            return True
    return False
