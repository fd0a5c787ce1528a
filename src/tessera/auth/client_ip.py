"""Pure client-IP resolution: the socket address, unless the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from tessera.auth.trusted_ips import IPNetwork


def parse_proxies(cidrs: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _is_trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in proxies)


def resolve_client_ip(
    peer: str | None, forwarded_for: str | None, proxies: tuple[IPNetwork, ...]
) -> str | None:
    """Walk X-Forwarded-For right to left, skipping trusted hops; the first untrusted hop is the client.

    Headers from an untrusted peer are ignored entirely, so a client cannot claim an address.
    """
    if peer is None or not proxies or not forwarded_for or not _is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a garbled hop means the chain cannot be trusted past this point
    return hops[0] if hops else peer
