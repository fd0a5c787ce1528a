"""Client IP resolution: X-Forwarded-For counts only when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.auth.client_ip import parse_proxies, resolve_client_ip

PROXIES = parse_proxies(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        pytest.param("203.0.113.9", None, "203.0.113.9", id="no-header"),
        pytest.param("203.0.113.9", "1.1.1.1", "203.0.113.9", id="untrusted-peer-spoofed-header-ignored"),
        pytest.param("203.0.113.9", "10.0.0.1", "203.0.113.9", id="untrusted-peer-claims-internal-address"),
        pytest.param("10.0.0.2", "198.51.100.7", "198.51.100.7", id="trusted-peer-one-hop"),
        pytest.param(
            "10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.5", "198.51.100.7", id="chain-walked-right-to-left"
        ),
        pytest.param(
            "10.0.0.2", " 6.6.6.6 ,198.51.100.7 , 10.0.0.5 ", "198.51.100.7", id="chain-with-whitespace"
        ),
        pytest.param("10.0.0.2", "10.0.0.9, 10.0.0.5", "10.0.0.9", id="all-hops-trusted-leftmost"),
        pytest.param("10.0.0.2", "", "10.0.0.2", id="empty-header"),
        pytest.param("10.0.0.2", " , ", "10.0.0.2", id="header-of-separators"),
        pytest.param("10.0.0.2", "6.6.6.6, garbage, 10.0.0.5", "10.0.0.2", id="garbled-hop-stops-the-walk"),
        pytest.param("10.0.0.2", "198.51.100.7:4711", "10.0.0.2", id="hop-with-port-is-garbled"),
        pytest.param("fd00::1", "2001:db8::7", "2001:db8::7", id="ipv6-proxy"),
        pytest.param("::ffff:10.0.0.2", "198.51.100.7", "198.51.100.7", id="ipv4-mapped-peer-is-trusted"),
        pytest.param("10.0.0.2", "2001:DB8::7", "2001:db8::7", id="hop-normalised"),
        pytest.param(None, "198.51.100.7", None, id="no-peer"),
        pytest.param("testclient", "198.51.100.7", "testclient", id="non-ip-peer-untrusted"),
    ],
)
def test_resolve_client_ip(peer: str | None, forwarded: str | None, expected: str | None) -> None:
    assert resolve_client_ip(peer, forwarded, PROXIES) == expected


def test_an_ipv4_mapped_hop_stays_an_ipv6_address() -> None:
    # Kept in IPv6 form (Python 3.11 renders it in hex); trusted-IP checks still see the IPv4 inside.
    resolved = resolve_client_ip("10.0.0.2", "::ffff:198.51.100.7", PROXIES)
    assert resolved is not None
    address = ipaddress.ip_address(resolved)
    assert isinstance(address, ipaddress.IPv6Address)
    assert address.ipv4_mapped == ipaddress.IPv4Address("198.51.100.7")


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert resolve_client_ip("10.0.0.2", "198.51.100.7", ()) == "10.0.0.2"


def test_parse_proxies_accepts_hosts_and_masks_host_bits() -> None:
    assert parse_proxies(["10.1.2.3/8", "192.168.0.1"]) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.0.1/32"),
    )


_hop = st.one_of(st.ip_addresses().map(str), st.text(max_size=12))


@given(st.ip_addresses().map(str), st.lists(_hop, max_size=6).map(", ".join))
def test_an_untrusted_peer_always_wins(peer: str, forwarded: str) -> None:
    untrusted = parse_proxies(["10.0.0.0/8"])
    if ipaddress.ip_address(peer) in ipaddress.ip_network("10.0.0.0/8"):
        return
    assert resolve_client_ip(peer, forwarded, untrusted) == peer


@given(st.lists(_hop, max_size=6).map(", ".join))
def test_a_trusted_peer_yields_an_address_never_arbitrary_text(forwarded: str) -> None:
    resolved = resolve_client_ip("10.0.0.2", forwarded, PROXIES)
    assert resolved is not None
    ipaddress.ip_address(resolved)  # always a real address, so nothing odd reaches logs or checks
