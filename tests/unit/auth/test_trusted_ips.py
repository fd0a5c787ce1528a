"""Trusted-IP entries: parsing into Infisical's shape and matching client addresses."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.auth.trusted_ips import ALLOW_ALL, InvalidTrustedIp, ip_allowed, parse_entries, parse_entry


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("10.0.0.0/8", {"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8}, id="ipv4-cidr"),
        pytest.param(
            "10.1.2.3/8", {"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8}, id="host-bits-masked"
        ),
        pytest.param("192.168.1.7", {"ipAddress": "192.168.1.7", "type": "ipv4"}, id="ipv4-address"),
        pytest.param(" 192.168.1.7 ", {"ipAddress": "192.168.1.7", "type": "ipv4"}, id="whitespace"),
        pytest.param("0.0.0.0/0", {"ipAddress": "0.0.0.0", "type": "ipv4", "prefix": 0}, id="ipv4-any"),
        pytest.param(
            "2001:db8::/32", {"ipAddress": "2001:db8::", "type": "ipv6", "prefix": 32}, id="ipv6-cidr"
        ),
        pytest.param("2001:DB8:0::1", {"ipAddress": "2001:db8::1", "type": "ipv6"}, id="ipv6-normalised"),
        pytest.param("::/0", {"ipAddress": "::", "type": "ipv6", "prefix": 0}, id="ipv6-any"),
    ],
)
def test_parse_entry(raw: str, expected: dict[str, Any]) -> None:
    assert parse_entry(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "localhost",
        "10.0.0.256",
        "10.0.0.0/33",
        "10.0.0.0/-1",
        "1.2.3",
        "::g",
        "2001:db8::/129",
        "10.0.0.1:80",
    ],
)
def test_parse_entry_refuses_garbage(raw: str) -> None:
    with pytest.raises(InvalidTrustedIp, match="not a valid IPv4, IPv6, or CIDR block"):
        parse_entry(raw)


def test_parse_entries_takes_strings_and_wire_objects() -> None:
    assert parse_entries(["10.0.0.0/8", {"ipAddress": "::1"}]) == [
        {"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8},
        {"ipAddress": "::1", "type": "ipv6"},
    ]
    with pytest.raises(InvalidTrustedIp, match="needs an ipAddress"):
        parse_entries([{"address": "10.0.0.1"}])


CORP = parse_entries(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"])


@pytest.mark.parametrize(
    ("client", "allowed"),
    [
        pytest.param("10.20.30.40", True, id="inside-ipv4-cidr"),
        pytest.param("11.0.0.1", False, id="outside-ipv4-cidr"),
        pytest.param("192.168.1.7", True, id="exact-host"),
        pytest.param("192.168.1.8", False, id="neighbour-of-host"),
        pytest.param("2001:db8::5", True, id="inside-ipv6-cidr"),
        pytest.param("2001:db9::5", False, id="outside-ipv6-cidr"),
        pytest.param("::ffff:10.1.1.1", True, id="ipv4-mapped-matches-ipv4-rule"),
        pytest.param("::ffff:11.1.1.1", False, id="ipv4-mapped-outside"),
        pytest.param(" 10.0.0.1 ", True, id="whitespace"),
        pytest.param("not-an-ip", False, id="garbage"),
        pytest.param("", False, id="empty"),
        pytest.param("10.0.0.1, 11.0.0.1", False, id="a-list-is-not-an-address"),
        pytest.param(None, False, id="unknown-client"),
    ],
)
def test_ip_allowed(client: str | None, allowed: bool) -> None:
    assert ip_allowed(client, CORP) is allowed


def test_allow_all_covers_both_families() -> None:
    for client in ("1.2.3.4", "255.255.255.255", "::1", "2001:db8::1", "::ffff:1.2.3.4"):
        assert ip_allowed(client, ALLOW_ALL)


def test_an_ipv4_rule_never_matches_an_ipv6_client_and_back() -> None:
    assert not ip_allowed("::1", parse_entries(["0.0.0.0/0"]))
    assert not ip_allowed("1.2.3.4", parse_entries(["::/0"]))


def test_no_rules_means_no_restriction() -> None:
    assert ip_allowed("1.2.3.4", [])


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=32), st.ip_addresses(v=4))
def test_ipv4_matching_agrees_with_the_standard_library(
    base: ipaddress.IPv4Address, prefix: int, client: ipaddress.IPv4Address
) -> None:
    network = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    entries = parse_entries([f"{base}/{prefix}"])
    assert ip_allowed(str(client), entries) is (client in network)
    # The same client seen through an IPv4-mapped IPv6 socket gets the same answer.
    assert ip_allowed(f"::ffff:{client}", entries) is (client in network)


@given(st.ip_addresses(v=6), st.integers(min_value=0, max_value=128), st.ip_addresses(v=6))
def test_ipv6_matching_agrees_with_the_standard_library(
    base: ipaddress.IPv6Address, prefix: int, client: ipaddress.IPv6Address
) -> None:
    network = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    expected = client in network
    if client.ipv4_mapped is not None:
        expected = False  # judged as its IPv4 address, which no IPv6 rule covers
    assert ip_allowed(str(client), parse_entries([f"{base}/{prefix}"])) is expected


@given(st.ip_addresses())
def test_a_bare_address_matches_only_itself(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    entries = parse_entries([str(address)])
    assert "prefix" not in entries[0]
    if not (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None):
        assert ip_allowed(str(address), entries)
    neighbour = address + 1 if int(address) < (2**address.max_prefixlen - 1) else address - 1
    assert not ip_allowed(str(neighbour), entries)
