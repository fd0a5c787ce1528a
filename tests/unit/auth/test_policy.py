"""The shared token policy: bounds, defaults, TTL within max TTL, trusted IPs, patches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tessera.auth.policy import (
    DEFAULT_MAX_TTL,
    DEFAULT_TTL,
    MAX_TTL_BOUND,
    TokenPolicy,
    TokenPolicyIn,
    TokenPolicyPatch,
    policy_to_wire,
)
from tessera.auth.trusted_ips import ALLOW_ALL
from tessera.errors import ValidationFailure

NOW = datetime(2030, 1, 1, tzinfo=UTC)


# --- TokenPolicy.validate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "field", "message"),
    [
        pytest.param(TokenPolicy(ttl=-1), "accessTokenTTL", "between 0 and", id="ttl-negative"),
        pytest.param(
            TokenPolicy(ttl=MAX_TTL_BOUND + 1, max_ttl=0),
            "accessTokenTTL",
            "between 0 and",
            id="ttl-over-bound",
        ),
        pytest.param(TokenPolicy(max_ttl=-1), "accessTokenMaxTTL", "between 0 and", id="max-ttl-negative"),
        pytest.param(
            TokenPolicy(max_ttl=MAX_TTL_BOUND + 1),
            "accessTokenMaxTTL",
            "between 0 and",
            id="max-ttl-over-bound",
        ),
        pytest.param(TokenPolicy(num_uses_limit=-1), "accessTokenNumUsesLimit", ">= 0", id="uses-negative"),
        pytest.param(
            TokenPolicy(ttl=3601, max_ttl=3600), "accessTokenTTL", "cannot be greater", id="ttl-over-max"
        ),
        pytest.param(
            TokenPolicy(trusted_ips=[]), "accessTokenTrustedIps", "At least one", id="no-trusted-ips"
        ),
    ],
)
def test_validate_refuses(policy: TokenPolicy, field: str, message: str) -> None:
    with pytest.raises(ValidationFailure) as caught:
        policy.validate()
    assert caught.value.field == field
    assert message in caught.value.message
    assert caught.value.details == [{"code": "invalid", "message": caught.value.message, "path": [field]}]


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(TokenPolicy(), id="defaults"),
        pytest.param(TokenPolicy(ttl=0, max_ttl=0), id="no-expiry"),
        pytest.param(TokenPolicy(ttl=MAX_TTL_BOUND, max_ttl=0), id="max-ttl-zero-means-no-maximum"),
        pytest.param(TokenPolicy(ttl=3600, max_ttl=3600), id="ttl-equals-max"),
        pytest.param(TokenPolicy(ttl=MAX_TTL_BOUND, max_ttl=MAX_TTL_BOUND), id="both-at-bound"),
        pytest.param(TokenPolicy(num_uses_limit=1), id="one-use"),
    ],
)
def test_validate_accepts(policy: TokenPolicy) -> None:
    assert policy.validate() is policy


def test_defaults() -> None:
    policy = TokenPolicy()
    assert (policy.ttl, policy.max_ttl, policy.num_uses_limit) == (DEFAULT_TTL, DEFAULT_MAX_TTL, 0)
    assert policy.trusted_ips == ALLOW_ALL
    # Each policy has its own list: changing one cannot change the shared default.
    policy.trusted_ips.append({"ipAddress": "10.0.0.1", "type": "ipv4"})
    assert TokenPolicy().trusted_ips == ALLOW_ALL


def test_expiry_arithmetic() -> None:
    policy = TokenPolicy(ttl=60, max_ttl=600)
    assert policy.expiry_from(NOW) == NOW + timedelta(seconds=60)
    assert policy.max_expiry_from(NOW) == NOW + timedelta(seconds=600)
    unlimited = TokenPolicy(ttl=0, max_ttl=0)
    assert unlimited.expiry_from(NOW) is None
    assert unlimited.max_expiry_from(NOW) is None


@given(st.integers(-10, MAX_TTL_BOUND + 10), st.integers(-10, MAX_TTL_BOUND + 10), st.integers(-3, 5))
def test_validate_is_exactly_the_documented_rule(ttl: int, max_ttl: int, uses: int) -> None:
    allowed = (
        0 <= ttl <= MAX_TTL_BOUND
        and 0 <= max_ttl <= MAX_TTL_BOUND
        and uses >= 0
        and (max_ttl == 0 or ttl <= max_ttl)
    )
    policy = TokenPolicy(ttl=ttl, max_ttl=max_ttl, num_uses_limit=uses)
    if allowed:
        policy.validate()
    else:
        with pytest.raises(ValidationFailure):
            policy.validate()


# --- TokenPolicyIn (the wire schema every attach route uses) ------------------------------------


def test_wire_defaults_and_conversion() -> None:
    policy = TokenPolicyIn().to_policy()
    assert policy == TokenPolicy()
    assert policy_to_wire(policy) == {
        "accessTokenTTL": DEFAULT_TTL,
        "accessTokenMaxTTL": DEFAULT_MAX_TTL,
        "accessTokenNumUsesLimit": 0,
        "accessTokenTrustedIps": ALLOW_ALL,
    }


def test_wire_values_from_a_form_body_arrive_as_strings() -> None:
    body = {
        "accessTokenTTL": "60",
        "accessTokenMaxTTL": "120",
        "accessTokenNumUsesLimit": "3",
        "accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/8"}],
        "somethingElse": "ignored",
    }
    policy = TokenPolicyIn.model_validate(body).to_policy()
    assert (policy.ttl, policy.max_ttl, policy.num_uses_limit) == (60, 120, 3)
    assert policy.trusted_ips == [{"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8}]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"accessTokenTTL": -1}, id="ttl-negative"),
        pytest.param({"accessTokenTTL": MAX_TTL_BOUND + 1, "accessTokenMaxTTL": 0}, id="ttl-over-bound"),
        pytest.param({"accessTokenTTL": 1.5}, id="ttl-fraction"),
        pytest.param({"accessTokenTTL": "soon"}, id="ttl-text"),
        pytest.param({"accessTokenMaxTTL": MAX_TTL_BOUND + 1}, id="max-ttl-over-bound"),
        pytest.param({"accessTokenTTL": 7200, "accessTokenMaxTTL": 3600}, id="ttl-over-max"),
        pytest.param({"accessTokenNumUsesLimit": -1}, id="uses-negative"),
        pytest.param({"accessTokenTrustedIps": []}, id="trusted-ips-empty"),
        pytest.param({"accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/33"}]}, id="trusted-ip-bad-cidr"),
        pytest.param({"accessTokenTrustedIps": [{"ipAddress": "intranet"}]}, id="trusted-ip-word"),
        pytest.param({"accessTokenTrustedIps": [{}]}, id="trusted-ip-missing-address"),
    ],
)
def test_wire_refuses(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TokenPolicyIn.model_validate(body)


def test_wire_ttl_with_max_ttl_zero_is_fine() -> None:
    policy = TokenPolicyIn.model_validate({"accessTokenTTL": MAX_TTL_BOUND, "accessTokenMaxTTL": 0})
    assert policy.to_policy().ttl == MAX_TTL_BOUND


# --- TokenPolicyPatch ------------------------------------------------------------------------


STORED = TokenPolicy(
    ttl=600, max_ttl=3600, num_uses_limit=5, trusted_ips=[{"ipAddress": "10.0.0.1", "type": "ipv4"}]
)


def test_patch_keeps_what_is_omitted() -> None:
    assert TokenPolicyPatch().apply_to(STORED) == STORED
    patched = TokenPolicyPatch.model_validate({"accessTokenNumUsesLimit": 0}).apply_to(STORED)
    assert patched == TokenPolicy(ttl=600, max_ttl=3600, num_uses_limit=0, trusted_ips=STORED.trusted_ips)


def test_patch_replaces_trusted_ips() -> None:
    patched = TokenPolicyPatch.model_validate({"accessTokenTrustedIps": [{"ipAddress": "::1"}]}).apply_to(
        STORED
    )
    assert patched.trusted_ips == [{"ipAddress": "::1", "type": "ipv6"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"accessTokenTTL": 7200}, "accessTokenTTL", id="ttl-over-stored-max"),
        pytest.param({"accessTokenMaxTTL": 60}, "accessTokenTTL", id="max-under-stored-ttl"),
    ],
)
def test_patch_is_validated_against_the_stored_policy(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailure) as caught:
        TokenPolicyPatch.model_validate(body).apply_to(STORED)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"accessTokenTrustedIps": []}, id="empty-ips"),
        pytest.param({"accessTokenTrustedIps": [{"ipAddress": "nope"}]}, id="bad-ip"),
        pytest.param({"accessTokenTTL": -5}, id="negative-ttl"),
    ],
)
def test_patch_schema_refuses(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TokenPolicyPatch.model_validate(body)
