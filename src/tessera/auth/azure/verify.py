"""PURE verification of an Entra ID (Azure AD) access token presented at Azure Auth login.

`verify_azure_token(token, keys, config, now)` returns the verified claims or raises
`AzureVerificationError` with a reason code. Nothing here does I/O: the signing keys are passed
in (see `jwks.py`), and so is `now`. The same ordered table of checks serves login (stop at the
first failure) and the admin "explain" dry run (report every check).

What is enforced, and why:
* RS256 only, chosen by us and never by the token; headers that point at other keys (`jku`,
  `x5u`, `jwk`, `x5c`) or that we cannot honour (`crit`, `zip`) are refused before any key
  lookup, so a token can never make the server fetch a URL or trust a key it carries.
* Both token versions: v1 (`iss = https://sts.windows.net/{tid}/`, client id in `appid`) and
  v2 (`iss = https://login.microsoftonline.com/{tid}/v2.0`, client id in `azp`). The issuer must
  be exactly the one for the token's `ver` and its `tid`, and `tid` must be a configured tenant.
  A valid signature alone proves nothing about the tenant: Entra's keys sign for every tenant.
* Audience = the configured resource, tolerating one trailing `/` either way (IMDS echoes the
  requested resource string verbatim, so both spellings occur in practice).
* Principal: allowed by object id, by client id, or explicitly "anyone in the tenant"; an empty
  rule table denies (Infisical treats an empty list as "everyone in the tenant").
* Resource binds (subscription, resource group, resource-ID prefix) from the signed
  `xms_az_rid` / `xms_mirid` claims, never from anything the caller sends alongside.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tessera.auth.azure.clouds import IssuerHosts
from tessera.auth.azure.ids import (
    canonical_guid,
    has_prefix,
    resource_group_of,
    resource_segments,
    subscription_of,
)

# Clock skew tolerated on exp / nbf / iat. Entra and the workloads' VMs are NTP-synced, but not
# to the second; a minute absorbs real drift while keeping an expired token's extra life short
# (Microsoft's own libraries allow five minutes, which we consider too generous for a login).
LEEWAY_SECONDS = 60
ALGORITHM = "RS256"
# Managed-identity tokens are 1-3 KB; anything far larger is not one and is not worth parsing.
MAX_TOKEN_LENGTH = 16_384
# Headers that name or carry a key (we only trust keys from the tenant's published set), or
# that ask for processing we do not do.
FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "zip", "crit")
VERSIONS = ("1.0", "2.0")
MAX_TOKEN_ID_LENGTH = 128  # Entra's uti is ~22 characters; the replay table holds up to 128
CLIENT_ID_CLAIM = {"1.0": "appid", "2.0": "azp"}
# Sane bounds for NumericDate claims (1970 … 5138), so arithmetic and conversion never overflow.
_MAX_TIMESTAMP = 10**11
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

Keys = Mapping[str, RSAPublicKey]


class AzureVerificationError(Exception):
    """A token failed a check. `reason` is a stable code for audit and metrics; `detail` is for admins."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class AzureVerifyConfig:
    """The checks to apply, already normalised (GUIDs lowercase, resource IDs as segment tuples)."""

    tenant_ids: tuple[str, ...]
    audience: str
    issuer_hosts: IssuerHosts
    allowed_principal_ids: frozenset[str] = frozenset()
    allowed_client_ids: frozenset[str] = frozenset()
    allow_any_principal_in_tenant: bool = False
    allowed_subscription_ids: frozenset[str] = frozenset()
    allowed_resource_groups: frozenset[str] = frozenset()  # casefolded
    allowed_resource_ids: tuple[tuple[str, ...], ...] = ()  # lowercase segments
    max_token_age_seconds: int | None = None
    require_token_id: bool = False  # one-time use needs `uti`


@dataclass(frozen=True, slots=True)
class AzureClaims:
    """The verified facts about the caller, as the service and the audit record use them."""

    version: str
    issuer: str
    tenant_id: str
    object_id: str
    client_id: str | None
    audience: tuple[str, ...]
    token_id: str | None
    issued_at: datetime
    expires_at: datetime
    not_before: datetime | None
    mi_resource_id: str | None
    compute_resource_id: str | None
    matched_rule: str

    def audit_details(self) -> dict[str, Any]:
        """Identifiers only (never the token), so an auditor can trace a Tessera token to its Azure one."""
        return {
            "uti": self.token_id,
            "oid": self.object_id,
            "tid": self.tenant_id,
            CLIENT_ID_CLAIM[self.version]: self.client_id,
            "ver": self.version,
            "xms_mirid": self.mi_resource_id,
            "xms_az_rid": self.compute_resource_id,
            "matchedRule": self.matched_rule,
        }


@dataclass(frozen=True, slots=True)
class TokenPreview:
    """What the key fetcher needs, read before any key is trusted: which tenant, which key."""

    kid: str
    tenant_id: str
    version: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    status: str  # pass | fail | skipped
    reason: str | None = None
    detail: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "reason": self.reason, "detail": self.detail}


@dataclass(slots=True)
class _State:
    """Inputs plus what earlier checks derived; shared by the steps of one verification."""

    token: str
    keys: Keys | None
    config: AzureVerifyConfig
    now: float
    header: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    signing_input: bytes = b""
    signature: bytes = b""
    matched_rule: str = ""


# --- parsing ----------------------------------------------------------------------------------


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Two parsers could disagree on which value wins; refuse rather than guess.
            raise ValueError(f"duplicate member {key[:32]!r}")
        result[key] = value
    return result


def _b64url_decode(segment: str) -> bytes:
    if not set(segment) <= _B64URL or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url_decode(segment), object_pairs_hook=_reject_duplicates)
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise AzureVerificationError("malformed_token", f"the {what} is not base64url JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise AzureVerificationError("malformed_token", f"the {what} is not a JSON object")
    return value


def _parse(state: _State) -> None:
    token = state.token
    if not isinstance(token, str) or not token:
        raise AzureVerificationError("malformed_token", "no token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AzureVerificationError("malformed_token", f"the token is longer than {MAX_TOKEN_LENGTH}")
    parts = token.split(".")
    if len(parts) != 3:
        raise AzureVerificationError("malformed_token", f"a JWS has 3 segments, this has {len(parts)}")
    header_b64, payload_b64, signature_b64 = parts
    state.header = _json_object(header_b64, "header")
    state.claims = _json_object(payload_b64, "payload")
    try:
        state.signature = _b64url_decode(signature_b64)
    except (ValueError, binascii.Error) as exc:
        raise AzureVerificationError("malformed_token", "the signature is not base64url") from exc
    state.signing_input = f"{header_b64}.{payload_b64}".encode("ascii")


# --- checks -----------------------------------------------------------------------------------


def _check_header(state: _State) -> None:
    alg = state.header.get("alg")
    if alg != ALGORITHM:
        raise AzureVerificationError("alg_not_allowed", f"alg {str(alg)[:16]!r} is not {ALGORITHM}")
    present = [name for name in FORBIDDEN_HEADERS if name in state.header]
    if present:
        raise AzureVerificationError("forbidden_header", f"header parameters not accepted: {present}")
    kid = state.header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise AzureVerificationError("kid_missing", "the header has no usable kid")


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AzureVerificationError("missing_claim", f"claim {name!r} is missing or not a number")
    if not math.isfinite(value) or not 0 <= value < _MAX_TIMESTAMP:
        raise AzureVerificationError("missing_claim", f"claim {name!r} is out of range")
    return float(value)


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise AzureVerificationError("missing_claim", f"claim {name!r} is missing or not a string")
    return value


def _audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise AzureVerificationError("missing_claim", "claim 'aud' is missing or not string(s)")
    return tuple(values)


def _check_claims_present(state: _State) -> None:
    claims = state.claims
    for name in ("iss", "tid", "oid", "ver"):
        _string(claims, name)
    _audiences(claims)
    _number(claims, "exp", required=True)
    _number(claims, "iat", required=True)
    _number(claims, "nbf", required=False)
    if claims["ver"] not in VERSIONS:
        version = claims["ver"][:8]
        raise AzureVerificationError("unsupported_version", f"token version {version!r} is not 1.0/2.0")
    if canonical_guid(claims["oid"]) is None:
        raise AzureVerificationError("missing_claim", "claim 'oid' is not a GUID")
    if state.config.require_token_id and len(_string(claims, "uti")) > MAX_TOKEN_ID_LENGTH:
        raise AzureVerificationError("missing_claim", "claim 'uti' is too long")


def _check_tenant(state: _State) -> None:
    tid = _string(state.claims, "tid")
    # Entra writes tid as a lowercase GUID; any other spelling is not a token it issued.
    if tid not in state.config.tenant_ids:
        raise AzureVerificationError("tenant_not_allowed", f"tenant {tid[:64]!r} is not configured")


def expected_issuer(hosts: IssuerHosts, version: str, tenant_id: str) -> str:
    if version == "1.0":
        return f"{hosts.v1}/{tenant_id}/"
    return f"{hosts.v2}/{tenant_id}/v2.0"


def _check_issuer(state: _State) -> None:
    claims = state.claims
    version = _string(claims, "ver")
    expected = expected_issuer(state.config.issuer_hosts, version, _string(claims, "tid"))
    issuer = _string(claims, "iss")
    if issuer != expected:  # exact: no prefix, substring or case games
        raise AzureVerificationError(
            "issuer_mismatch", f"iss {issuer[:128]!r} is not {expected!r} (the v{version} issuer of tid)"
        )


def _check_signature(state: _State) -> None:
    if state.keys is None:
        raise AzureVerificationError("keys_unavailable", "the tenant's signing keys are not available")
    kid = state.header.get("kid")
    key = state.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise AzureVerificationError("unknown_kid", f"kid {str(kid)[:64]!r} is not among the tenant's keys")
    try:
        key.verify(state.signature, state.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise AzureVerificationError("bad_signature", "the RS256 signature does not verify") from exc


def _check_lifetime(state: _State) -> None:
    now, claims = state.now, state.claims
    exp = _number(claims, "exp", required=True)
    iat = _number(claims, "iat", required=True)
    nbf = _number(claims, "nbf", required=False)
    assert exp is not None
    assert iat is not None
    if now > exp + LEEWAY_SECONDS:
        raise AzureVerificationError("expired", f"expired {int(now - exp)} s ago")
    if nbf is not None and nbf > now + LEEWAY_SECONDS:
        raise AzureVerificationError("not_yet_valid", f"not valid for another {int(nbf - now)} s")
    if iat > now + LEEWAY_SECONDS:
        raise AzureVerificationError("issued_in_future", f"issued {int(iat - now)} s in the future")


def _check_max_age(state: _State) -> None:
    limit = state.config.max_token_age_seconds
    if limit is None:
        return
    iat = _number(state.claims, "iat", required=True)
    assert iat is not None
    # A policy limit, not clock skew: no leeway on top.
    if state.now - iat > limit:
        raise AzureVerificationError("token_too_old", f"issued {int(state.now - iat)} s ago; limit {limit} s")


def audience_matches(audiences: Sequence[str], resource: str) -> bool:
    """Exact match, except that exactly one trailing `/` may differ on either side."""
    return any(aud in {resource, resource + "/"} or aud + "/" == resource for aud in audiences)


def _check_audience(state: _State) -> None:
    audiences = _audiences(state.claims)
    if not audience_matches(audiences, state.config.audience):
        shown = [a[:128] for a in audiences[:4]]
        raise AzureVerificationError(
            "audience_mismatch", f"aud {shown} does not match the configured resource"
        )


PrincipalRule = tuple[str, Callable[[Mapping[str, Any]], bool]]


def principal_rules(config: AzureVerifyConfig) -> tuple[PrincipalRule, ...]:
    """The configured ways a principal may be allowed; any one suffices."""
    rules: list[PrincipalRule] = []
    if config.allowed_principal_ids:
        allowed = config.allowed_principal_ids
        rules.append(("principal_id", lambda claims: canonical_guid(claims.get("oid")) in allowed))
    if config.allowed_client_ids:
        clients = config.allowed_client_ids
        rules.append(("client_id", lambda claims: canonical_guid(_client_id(claims)) in clients))
    if config.allow_any_principal_in_tenant:
        rules.append(("any_principal_in_tenant", lambda _claims: True))
    return tuple(rules)


def _client_id(claims: Mapping[str, Any]) -> object:
    claim = CLIENT_ID_CLAIM.get(str(claims.get("ver")))
    return claims.get(claim) if claim else None


def _check_principal(state: _State) -> None:
    rules = principal_rules(state.config)
    if not rules:
        # Deny by default: an empty allow-list is "nobody", never "the whole tenant".
        raise AzureVerificationError(
            "no_principal_binding",
            "no principal is allowed: set allowedServicePrincipalIds or allowedClientIds, "
            "or allowAnyPrincipalInTenant=true",
        )
    for name, allows in rules:
        if allows(state.claims):
            state.matched_rule = name
            return
    oid = str(state.claims.get("oid"))[:64]
    raise AzureVerificationError(
        "principal_not_allowed", f"oid {oid!r} / client id {str(_client_id(state.claims))[:64]!r} not allowed"
    )


def calling_resource(claims: Mapping[str, Any]) -> str | None:
    """The compute resource that asked for the token.

    With a user-assigned identity, `xms_mirid` names the identity (in its own resource group) and
    `xms_az_rid` the VM or app using it; with a system-assigned identity only `xms_mirid` exists
    and names the resource itself.
    """
    for name in ("xms_az_rid", "xms_mirid"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _check_resource(state: _State) -> None:
    config = state.config
    if not (config.allowed_subscription_ids or config.allowed_resource_groups or config.allowed_resource_ids):
        return
    raw = calling_resource(state.claims) or ""
    segments = resource_segments(raw)
    if segments is None:
        raise AzureVerificationError(
            "resource_claim_missing", "resource binds are set; the token has no usable xms_az_rid/xms_mirid"
        )
    subscription = subscription_of(segments)
    if config.allowed_subscription_ids and subscription not in config.allowed_subscription_ids:
        raise AzureVerificationError("subscription_not_allowed", f"subscription {subscription!r}")
    group = resource_group_of(segments)
    if config.allowed_resource_groups and (group is None or group not in config.allowed_resource_groups):
        raise AzureVerificationError("resource_group_not_allowed", f"resource group {group!r}")
    if config.allowed_resource_ids and not any(has_prefix(segments, p) for p in config.allowed_resource_ids):
        raise AzureVerificationError("resource_id_not_allowed", f"resource {raw[:256]!r}")


# The order matters: tenant and issuer come before the signature so the key fetcher is only
# ever asked for a configured tenant; every claim-based decision comes after the signature.
CHECKS: tuple[tuple[str, Callable[[_State], None]], ...] = (
    ("header", _check_header),
    ("claims", _check_claims_present),
    ("tenant", _check_tenant),
    ("issuer", _check_issuer),
    ("signature", _check_signature),
    ("lifetime", _check_lifetime),
    ("max_age", _check_max_age),
    ("audience", _check_audience),
    ("principal", _check_principal),
    ("resource", _check_resource),
)
_PRE_KEY_CHECKS = ("header", "claims", "tenant", "issuer")


def preview(token: str, config: AzureVerifyConfig) -> TokenPreview:
    """Run the checks that need no key, so keys are fetched only for a plausible token.

    Raises:
        AzureVerificationError: the token fails a check that does not need the signing key.
    """
    state = _State(token=token, keys=None, config=config, now=0.0)
    _parse(state)
    for name, check in CHECKS:
        if name in _PRE_KEY_CHECKS:
            check(state)
    return TokenPreview(
        kid=str(state.header["kid"]), tenant_id=str(state.claims["tid"]), version=str(state.claims["ver"])
    )


def verify_azure_token(token: str, keys: Keys, config: AzureVerifyConfig, now: datetime) -> AzureClaims:
    """Verify signature and every configured rule; return the claims the caller is known by.

    Raises:
        AzureVerificationError: the first check that fails, with its reason code.
    """
    state = _State(token=token, keys=keys, config=config, now=now.timestamp())
    _parse(state)
    for _name, check in CHECKS:
        check(state)
    return _claims(state)


def _when(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def _claims(state: _State) -> AzureClaims:
    claims = state.claims
    nbf = _number(claims, "nbf", required=False)
    client = _client_id(claims)
    return AzureClaims(
        version=str(claims["ver"]),
        issuer=str(claims["iss"]),
        tenant_id=str(claims["tid"]),
        object_id=canonical_guid(claims["oid"]) or str(claims["oid"]),
        client_id=client if isinstance(client, str) else None,
        audience=_audiences(claims),
        token_id=_optional_str(claims, "uti"),
        issued_at=_when(float(claims["iat"])),
        expires_at=_when(float(claims["exp"])),
        not_before=_when(nbf) if nbf is not None else None,
        mi_resource_id=_optional_str(claims, "xms_mirid"),
        compute_resource_id=_optional_str(claims, "xms_az_rid"),
        matched_rule=state.matched_rule,
    )


def explain_azure_token(
    token: str,
    keys: Keys | None,
    config: AzureVerifyConfig,
    now: datetime,
    *,
    keys_problem: str | None = None,
) -> list[CheckResult]:
    """Run every check and report each one (the admin dry run); never raises for a bad token.

    Checks after a failed format or header check are skipped, since nothing after them can be
    read safely; later checks still run after other failures so the admin sees all problems.
    """
    state = _State(token=token, keys=keys, config=config, now=now.timestamp())
    try:
        _parse(state)
    except AzureVerificationError as exc:
        return [CheckResult("format", "fail", exc.reason, exc.detail)] + [
            CheckResult(name, "skipped") for name, _check in CHECKS
        ]
    results = [CheckResult("format", "pass")]
    blocked = False
    for name, check in CHECKS:
        if blocked:
            results.append(CheckResult(name, "skipped"))
            continue
        if name == "signature" and keys is None:
            # Keys are fetched only for a token that passes the checks before this one.
            results.append(
                CheckResult(name, "fail", "keys_unavailable", keys_problem)
                if keys_problem
                else CheckResult(name, "skipped", detail="no keys fetched for this token")
            )
            continue
        try:
            check(state)
        except AzureVerificationError as exc:
            results.append(CheckResult(name, "fail", exc.reason, exc.detail))
            blocked = name == "header"
            continue
        detail = f"matched by {state.matched_rule}" if name == "principal" else None
        results.append(CheckResult(name, "pass", detail=detail))
    return results


def unverified_key_id(token: str) -> tuple[str, str] | None:
    """(tid, kid) as an UNVERIFIED token states them, to tell whether its keys are cached; never raises."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        return None
    head, payload, _signature = token.split(".")
    try:
        header, claims = _json_object(head, "header"), _json_object(payload, "payload")
    except AzureVerificationError:
        return None
    tid, kid = claims.get("tid"), header.get("kid")
    return (tid, kid) if isinstance(tid, str) and isinstance(kid, str) else None


def claim_summary(token: object) -> dict[str, Any]:
    """Identifiers from an UNVERIFIED token for the failure audit record; never raises.

    Only short strings are kept, so an attacker cannot stuff the audit log through claim values.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        return {}
    try:
        claims = _json_object(token.split(".")[1], "payload")
    except AzureVerificationError:
        return {}
    summary: dict[str, Any] = {}
    for name in ("uti", "oid", "tid", "appid", "azp", "ver", "xms_mirid", "xms_az_rid"):
        value = claims.get(name)
        if isinstance(value, str):
            summary[name] = value[:256]
    return summary
