"""The pure Azure token verifier: every check, positive and negative, with no network at all."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.auth.azure.clouds import ISSUER_HOSTS, Cloud
from tessera.auth.azure.ids import resource_segments
from tessera.auth.azure.verify import (
    LEEWAY_SECONDS,
    MAX_TOKEN_LENGTH,
    AzureVerificationError,
    AzureVerifyConfig,
    audience_matches,
    claim_summary,
    explain_azure_token,
    preview,
    unverified_key_id,
    verify_azure_token,
)
from tests.fakes.entra import ARM, SigningKey, b64url, forge, token_claims

T1 = "72f988bf-86f1-41af-91ab-2d7cd011db47"
T2 = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
OID_A = "11111111-1111-4111-8111-111111111111"
OID_B = "22222222-2222-4222-8222-222222222222"
CLIENT_A = "33333333-3333-4333-8333-333333333333"
SUB = "44444444-4444-4444-8444-444444444444"
SUB_OTHER = "55555555-5555-4555-8555-555555555555"
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp())
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-1"
UAMI_ID = (
    f"/subscriptions/{SUB}/resourcegroups/rg-identities/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/app-id"
)

KEY = SigningKey.generate("k1")
UNPUBLISHED = SigningKey.generate("k2")
KEYS = {KEY.kid: KEY.private_key.public_key()}


def make_config(**overrides: Any) -> AzureVerifyConfig:
    values: dict[str, Any] = {
        "tenant_ids": (T1,),
        "audience": ARM,
        "issuer_hosts": ISSUER_HOSTS[Cloud.public],
        "allowed_principal_ids": frozenset({OID_A}),
    }
    values.update(overrides)
    return AzureVerifyConfig(**values)


def claims(**extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "tenant": T1,
        "oid": OID_A,
        "now": NOW,
        "client_id": CLIENT_A,
        "xms_mirid": VM_ID,
    }
    values.update(extra)
    return token_claims(**values)


def signed(**extra: Any) -> str:
    return KEY.sign(claims(**extra))


def hs256(header: dict[str, Any], secret: bytes) -> str:
    """An HMAC token keyed with bytes an attacker knows (a public key in some encoding)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims()).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def public_encodings() -> dict[str, bytes]:
    public = KEY.private_key.public_key()
    return {
        "spki_pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pkcs1_pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "openssh": public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        "jwk_json": json.dumps(KEY.jwk()).encode(),
    }


def tampered() -> str:
    head, _body, sig = signed().split(".")
    evil = b64url(json.dumps(claims(oid=OID_A, xms_mirid=UAMI_ID)).encode())
    return f"{head}.{evil}.{sig}"


def other_alg(alg: str) -> str:
    if alg.startswith("ES"):
        ec_key = ec.generate_private_key(ec.SECP256R1())
        return jwt.encode(claims(), ec_key, algorithm=alg, headers={"kid": KEY.kid})
    return jwt.encode(claims(), KEY.private_key, algorithm=alg, headers={"kid": KEY.kid})


def with_header(**header: Any) -> str:
    """Correctly signed by the published key, but with extra header parameters."""
    return KEY.sign(claims(), headers=header)


NEGATIVE: list[Any] = [
    # --- token format ---
    pytest.param(lambda: "", {}, "malformed_token", id="empty"),
    pytest.param(lambda: "a.b", {}, "malformed_token", id="two_segments"),
    pytest.param(lambda: signed() + ".x", {}, "malformed_token", id="four_segments"),
    pytest.param(lambda: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", {}, "malformed_token", id="jwe_five_segments"),
    pytest.param(lambda: "e30=.e30.", {}, "malformed_token", id="std_base64_padding"),
    pytest.param(lambda: "ey*J.e30.", {}, "malformed_token", id="non_base64url"),
    pytest.param(lambda: b64url(b"not json") + ".e30.", {}, "malformed_token", id="header_not_json"),
    pytest.param(lambda: b64url(b"[1]") + ".e30.", {}, "malformed_token", id="header_not_object"),
    pytest.param(
        lambda: b64url(b'{"alg":"none","alg":"RS256","kid":"k1"}') + "." + signed().split(".", 1)[1],
        {},
        "malformed_token",
        id="duplicate_alg",
    ),
    pytest.param(
        lambda: signed().split(".")[0] + "." + b64url(b'{"oid":"a","oid":"b"}') + ".",
        {},
        "malformed_token",
        id="duplicate_claim",
    ),
    pytest.param(lambda: "a" * (MAX_TOKEN_LENGTH + 1), {}, "malformed_token", id="oversized"),
    # --- algorithm and header ---
    *[
        pytest.param(
            lambda alg=alg: forge({"alg": alg, "kid": KEY.kid}, claims()),
            {},
            "alg_not_allowed",
            id=f"alg_{alg}",
        )
        for alg in ("none", "None", "NONE", "nOnE", "")
    ],
    pytest.param(lambda: forge({"kid": KEY.kid}, claims()), {}, "alg_not_allowed", id="alg_missing"),
    *[
        pytest.param(
            lambda enc=enc: hs256({"alg": "HS256", "kid": KEY.kid}, public_encodings()[enc]),
            {},
            "alg_not_allowed",
            id=f"hs256_with_public_key_{enc}",
        )
        for enc in ("spki_pem", "pkcs1_pem", "der", "openssh", "jwk_json")
    ],
    *[
        pytest.param(lambda alg=alg: other_alg(alg), {}, "alg_not_allowed", id=f"alg_{alg}")
        for alg in ("RS384", "RS512", "PS256", "ES256")
    ],
    pytest.param(lambda: with_header(jku="http://127.0.0.1:1/keys"), {}, "forbidden_header", id="jku"),
    pytest.param(lambda: with_header(x5u="http://127.0.0.1:1/cert"), {}, "forbidden_header", id="x5u"),
    pytest.param(lambda: with_header(jwk=UNPUBLISHED.jwk()), {}, "forbidden_header", id="embedded_jwk"),
    pytest.param(lambda: with_header(x5c=["MIIBIjAN"]), {}, "forbidden_header", id="x5c"),
    pytest.param(lambda: with_header(crit=["exp2"], exp2=1), {}, "forbidden_header", id="crit_unknown"),
    pytest.param(lambda: with_header(zip="DEF"), {}, "forbidden_header", id="zip"),
    pytest.param(lambda: forge({"alg": "RS256"}, claims()), {}, "kid_missing", id="kid_missing"),
    pytest.param(lambda: forge({"alg": "RS256", "kid": 7}, claims()), {}, "kid_missing", id="kid_not_string"),
    # --- signature ---
    pytest.param(lambda: UNPUBLISHED.sign(claims()), {}, "unknown_kid", id="unknown_kid"),
    pytest.param(
        lambda: dataclasses.replace(UNPUBLISHED, kid=KEY.kid).sign(claims()),
        {},
        "bad_signature",
        id="published_kid_other_key",
    ),
    pytest.param(tampered, {}, "bad_signature", id="tampered_payload"),
    pytest.param(lambda: signed().rsplit(".", 1)[0] + ".", {}, "bad_signature", id="signature_stripped"),
    # --- required claims ---
    *[
        pytest.param(lambda name=name: signed(**{name: None}), {}, "missing_claim", id=f"missing_{name}")
        for name in ("exp", "iat", "tid", "oid", "iss", "aud", "ver")
    ],
    pytest.param(lambda: signed(exp=str(STAMP + 60)), {}, "missing_claim", id="exp_string"),
    pytest.param(lambda: signed(exp=True), {}, "missing_claim", id="exp_bool"),
    pytest.param(lambda: signed(exp=10**13), {}, "missing_claim", id="exp_out_of_range"),
    pytest.param(lambda: signed(iat=-5), {}, "missing_claim", id="iat_negative"),
    pytest.param(lambda: signed(oid="not-a-guid"), {}, "missing_claim", id="oid_not_guid"),
    pytest.param(lambda: signed(ver="3.0"), {}, "unsupported_version", id="ver_unknown"),
    pytest.param(
        lambda: signed(uti=None), {"require_token_id": True}, "missing_claim", id="uti_missing_one_time"
    ),
    pytest.param(
        lambda: signed(uti="u" * 200), {"require_token_id": True}, "missing_claim", id="uti_too_long"
    ),
    # --- tenant and issuer ---
    pytest.param(lambda: signed(tenant=T2), {}, "tenant_not_allowed", id="other_tenant_published_key"),
    pytest.param(lambda: signed(tid=T2), {}, "tenant_not_allowed", id="iss_t1_tid_t2"),
    pytest.param(
        lambda: signed(tenant=T2, iss=f"https://sts.windows.net/{T1}/"),
        {"tenant_ids": (T1, T2)},
        "issuer_mismatch",
        id="tid_t2_iss_t1_both_configured",
    ),
    pytest.param(
        lambda: signed(tid=T1.upper(), iss=f"https://sts.windows.net/{T1.upper()}/"),
        {},
        "tenant_not_allowed",
        id="tid_uppercase",
    ),
    pytest.param(
        lambda: signed(iss=f"https://sts.windows.net/{T1}/x"), {}, "issuer_mismatch", id="iss_suffix"
    ),
    pytest.param(
        lambda: signed(iss=f"xhttps://sts.windows.net/{T1}/"), {}, "issuer_mismatch", id="iss_prefix"
    ),
    pytest.param(
        lambda: signed(iss=f"https://sts.windows.net/{T1}"), {}, "issuer_mismatch", id="iss_no_slash"
    ),
    pytest.param(lambda: signed(iss=f"https://STS.windows.net/{T1}/"), {}, "issuer_mismatch", id="iss_case"),
    pytest.param(
        lambda: signed(iss=f"https://sts.windows.net/{T2}/"), {}, "issuer_mismatch", id="iss_other_tenant"
    ),
    pytest.param(
        lambda: signed(iss=f"https://login.microsoftonline.com/{T1}/v2.0"),
        {},
        "issuer_mismatch",
        id="v1_token_v2_iss",
    ),
    pytest.param(
        lambda: signed(version="2.0", iss=f"https://sts.windows.net/{T1}/"),
        {},
        "issuer_mismatch",
        id="v2_token_v1_iss",
    ),
    pytest.param(
        lambda: signed(version="2.0", iss=f"https://login.microsoftonline.us/{T1}/v2.0"),
        {},
        "issuer_mismatch",
        id="v2_usgov_issuer_on_public",
    ),
    pytest.param(
        lambda: signed(iss=f"https://sts.chinacloudapi.cn/{T1}/"),
        {},
        "issuer_mismatch",
        id="china_issuer_on_public",
    ),
    pytest.param(
        signed,
        {"issuer_hosts": ISSUER_HOSTS[Cloud.china]},
        "issuer_mismatch",
        id="public_issuer_on_china",
    ),
    # --- lifetime ---
    pytest.param(lambda: signed(exp=STAMP - 600), {}, "expired", id="expired"),
    pytest.param(lambda: signed(exp=STAMP - LEEWAY_SECONDS - 5), {}, "expired", id="expired_past_leeway"),
    pytest.param(lambda: signed(nbf=STAMP + 600), {}, "not_yet_valid", id="nbf_future"),
    pytest.param(lambda: signed(nbf=STAMP + LEEWAY_SECONDS + 5), {}, "not_yet_valid", id="nbf_past_leeway"),
    pytest.param(lambda: signed(iat=STAMP + 600, nbf=None), {}, "issued_in_future", id="iat_future"),
    pytest.param(
        lambda: signed(iat=STAMP + LEEWAY_SECONDS + 5, nbf=None), {}, "issued_in_future", id="iat_past_leeway"
    ),
    pytest.param(
        lambda: signed(iat=STAMP - 7200), {"max_token_age_seconds": 3600}, "token_too_old", id="max_age"
    ),
    # --- audience ---
    *[
        pytest.param(lambda aud=aud: signed(audience=aud), {}, "audience_mismatch", id=f"aud_{name}")
        for name, aud in [
            ("other_resource", "https://graph.microsoft.com/"),
            ("suffix", ARM + "x"),
            ("prefix", "x" + ARM),
            ("case", ARM.upper()),
            ("truncated", "https://management.azure.co"),
            ("list_without_match", ["https://graph.microsoft.com", "api://tessera"]),
        ]
    ],
    pytest.param(
        lambda: signed(audience=ARM + "/"), {"audience": ARM[:-1]}, "audience_mismatch", id="aud_two_slashes"
    ),
    pytest.param(lambda: signed(audience=[]), {}, "missing_claim", id="aud_empty_list"),
    pytest.param(lambda: signed(audience=""), {}, "missing_claim", id="aud_empty_string"),
    pytest.param(lambda: signed(audience=[ARM, 7]), {}, "missing_claim", id="aud_list_not_strings"),
    # --- principal ---
    pytest.param(lambda: signed(oid=OID_B), {}, "principal_not_allowed", id="sp_not_allowed"),
    pytest.param(
        signed,
        {"allowed_principal_ids": frozenset()},
        "no_principal_binding",
        id="empty_allow_list_denies",
    ),
    pytest.param(
        signed,
        {"allowed_principal_ids": frozenset(), "allowed_client_ids": frozenset({OID_B})},
        "principal_not_allowed",
        id="client_id_not_allowed",
    ),
    pytest.param(
        lambda: signed(version="2.0", appid=CLIENT_A, azp=OID_B),
        {"allowed_principal_ids": frozenset(), "allowed_client_ids": frozenset({CLIENT_A})},
        "principal_not_allowed",
        id="v2_appid_not_read",
    ),
    pytest.param(
        lambda: signed(appid=None, azp=CLIENT_A),
        {"allowed_principal_ids": frozenset(), "allowed_client_ids": frozenset({CLIENT_A})},
        "principal_not_allowed",
        id="v1_azp_not_read",
    ),
    # --- resource binds ---
    pytest.param(
        signed,
        {"allowed_subscription_ids": frozenset({SUB_OTHER})},
        "subscription_not_allowed",
        id="sub",
    ),
    pytest.param(
        signed,
        {"allowed_resource_groups": frozenset({"rg-other"})},
        "resource_group_not_allowed",
        id="rg",
    ),
    pytest.param(
        signed,
        {"allowed_resource_groups": frozenset({"rg-ap"})},
        "resource_group_not_allowed",
        id="rg_prefix_only",
    ),
    pytest.param(
        signed,
        {"allowed_resource_ids": (resource_segments(f"/subscriptions/{SUB}/resourceGroups/rg-ap"),)},
        "resource_id_not_allowed",
        id="resource_id_partial_segment",
    ),
    pytest.param(
        signed,
        {"allowed_resource_ids": (resource_segments(VM_ID + "/extensions/x"),)},
        "resource_id_not_allowed",
        id="resource_id_longer_than_claim",
    ),
    pytest.param(
        lambda: signed(xms_mirid=None),
        {"allowed_resource_groups": frozenset({"rg-app"})},
        "resource_claim_missing",
        id="no_mirid",
    ),
    pytest.param(
        lambda: signed(xms_mirid="/subscriptions/x/../resourcegroups/rg-app"),
        {"allowed_resource_groups": frozenset({"rg-app"})},
        "resource_claim_missing",
        id="mirid_garbage",
    ),
    pytest.param(
        lambda: signed(
            xms_mirid=UAMI_ID, xms_az_rid=f"/subscriptions/{SUB}/resourcegroups/rg-dev/providers/x/y/vm-2"
        ),
        {"allowed_resource_groups": frozenset({"rg-identities"})},
        "resource_group_not_allowed",
        id="uami_rg_is_not_the_callers_rg",
    ),
]


@pytest.mark.parametrize(("make_token", "overrides", "reason"), NEGATIVE)
def test_rejected(make_token: Callable[[], str], overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(AzureVerificationError) as caught:
        verify_azure_token(make_token(), KEYS, make_config(**overrides), NOW)
    assert caught.value.reason == reason, caught.value.detail


POSITIVE: list[Any] = [
    pytest.param(signed, {}, "principal_id", id="v1_baseline"),
    pytest.param(lambda: signed(version="2.0"), {}, "principal_id", id="v2_baseline"),
    pytest.param(
        lambda: signed(exp=STAMP - LEEWAY_SECONDS + 5), {}, "principal_id", id="expired_within_leeway"
    ),
    pytest.param(lambda: signed(nbf=STAMP + LEEWAY_SECONDS - 5), {}, "principal_id", id="nbf_within_leeway"),
    pytest.param(
        lambda: signed(iat=STAMP + LEEWAY_SECONDS - 5, nbf=None), {}, "principal_id", id="iat_within_leeway"
    ),
    pytest.param(lambda: signed(nbf=None), {}, "principal_id", id="nbf_optional"),
    pytest.param(lambda: signed(audience=[ARM]), {}, "principal_id", id="aud_list"),
    pytest.param(lambda: signed(audience=["api://x", ARM]), {}, "principal_id", id="aud_list_second"),
    pytest.param(lambda: signed(audience=ARM[:-1]), {}, "principal_id", id="aud_without_slash"),
    pytest.param(
        lambda: signed(audience=ARM), {"audience": ARM[:-1]}, "principal_id", id="config_without_slash"
    ),
    pytest.param(lambda: signed(oid=OID_A.upper()), {}, "principal_id", id="oid_case_insensitive"),
    pytest.param(
        lambda: signed(oid=OID_B),
        {"allowed_client_ids": frozenset({CLIENT_A})},
        "client_id",
        id="v1_appid_allowed",
    ),
    pytest.param(
        lambda: signed(version="2.0", oid=OID_B),
        {"allowed_client_ids": frozenset({CLIENT_A})},
        "client_id",
        id="v2_azp_allowed",
    ),
    pytest.param(
        lambda: signed(oid=OID_B),
        {"allowed_principal_ids": frozenset(), "allow_any_principal_in_tenant": True},
        "any_principal_in_tenant",
        id="any_in_tenant",
    ),
    pytest.param(lambda: signed(tenant=T2), {"tenant_ids": (T1, T2)}, "principal_id", id="second_tenant"),
    pytest.param(
        lambda: signed(tenant=T2, version="2.0"),
        {"tenant_ids": (T1, T2)},
        "principal_id",
        id="second_tenant_v2",
    ),
    pytest.param(
        lambda: signed(iss=f"https://sts.chinacloudapi.cn/{T1}/"),
        {"issuer_hosts": ISSUER_HOSTS[Cloud.china]},
        "principal_id",
        id="china_v1",
    ),
    pytest.param(
        lambda: signed(version="2.0", iss=f"https://login.partner.microsoftonline.cn/{T1}/v2.0"),
        {"issuer_hosts": ISSUER_HOSTS[Cloud.china]},
        "principal_id",
        id="china_v2",
    ),
    pytest.param(
        lambda: signed(version="2.0", iss=f"https://login.microsoftonline.us/{T1}/v2.0"),
        {"issuer_hosts": ISSUER_HOSTS[Cloud.usgovernment]},
        "principal_id",
        id="usgov_v2",
    ),
    pytest.param(
        lambda: signed(iat=STAMP - 3000), {"max_token_age_seconds": 3600}, "principal_id", id="young_enough"
    ),
    pytest.param(
        signed,
        {
            "allowed_subscription_ids": frozenset({SUB}),
            "allowed_resource_groups": frozenset({"rg-app"}),
            "allowed_resource_ids": (
                resource_segments(f"/SUBSCRIPTIONS/{SUB.upper()}/resourcegroups/RG-APP"),
            ),
        },
        "principal_id",
        id="resource_binds_case_insensitive",
    ),
    pytest.param(
        lambda: signed(xms_mirid=UAMI_ID, xms_az_rid=VM_ID),
        {
            "allowed_resource_groups": frozenset({"rg-app"}),
            "allowed_resource_ids": (resource_segments(VM_ID),),
        },
        "principal_id",
        id="uami_bound_by_compute_resource",
    ),
]


@pytest.mark.parametrize(("make_token", "overrides", "rule"), POSITIVE)
def test_accepted(make_token: Callable[[], str], overrides: dict[str, Any], rule: str) -> None:
    result = verify_azure_token(make_token(), KEYS, make_config(**overrides), NOW)
    assert result.matched_rule == rule


def test_verified_claims_carry_the_audit_identifiers() -> None:
    values = claims(version="2.0", xms_az_rid=VM_ID)
    result = verify_azure_token(KEY.sign(values), KEYS, make_config(), NOW)
    assert result.version == "2.0"
    assert result.client_id == CLIENT_A
    assert result.tenant_id == T1
    assert result.expires_at == datetime.fromtimestamp(values["exp"], UTC)
    details = result.audit_details()
    assert details["uti"] == values["uti"]
    assert details["azp"] == CLIENT_A
    assert details["xms_az_rid"] == VM_ID
    assert "appid" not in details


def test_every_negative_reason_is_distinct_from_success() -> None:
    reasons = {param.values[2] for param in NEGATIVE}
    assert reasons >= {
        "malformed_token",
        "alg_not_allowed",
        "forbidden_header",
        "kid_missing",
        "unknown_kid",
        "bad_signature",
        "missing_claim",
        "tenant_not_allowed",
        "issuer_mismatch",
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "token_too_old",
        "audience_mismatch",
        "principal_not_allowed",
        "no_principal_binding",
        "subscription_not_allowed",
        "resource_group_not_allowed",
        "resource_id_not_allowed",
        "resource_claim_missing",
    }


@pytest.mark.parametrize(
    ("audiences", "resource", "expected"),
    [
        pytest.param(["a/"], "a/", True, id="equal"),
        pytest.param(["a"], "a/", True, id="token_lacks_slash"),
        pytest.param(["a/"], "a", True, id="config_lacks_slash"),
        pytest.param(["a//"], "a", False, id="two_slashes"),
        pytest.param(["a"], "a//", False, id="two_slashes_config"),
        pytest.param(["ab"], "a", False, id="longer"),
    ],
)
def test_audience_tolerates_exactly_one_trailing_slash(
    audiences: list[str], resource: str, expected: bool
) -> None:
    assert audience_matches(audiences, resource) is expected


def test_preview_refuses_before_any_key_is_needed() -> None:
    # A foreign tenant or a forbidden header is refused without consulting keys at all.
    with pytest.raises(AzureVerificationError, match="tenant_not_allowed"):
        preview(signed(tenant=T2), make_config())
    with pytest.raises(AzureVerificationError, match="forbidden_header"):
        preview(with_header(jku="http://127.0.0.1:1/"), make_config())
    seen = preview(signed(version="2.0"), make_config())
    assert (seen.kid, seen.tenant_id, seen.version) == (KEY.kid, T1, "2.0")


def test_explain_reports_every_failing_check() -> None:
    token = signed(oid=OID_B, audience="api://other", exp=STAMP - 3600, iat=STAMP - 7200, nbf=STAMP - 7200)
    results = {r.check: r for r in explain_azure_token(token, KEYS, make_config(), NOW)}
    assert results["signature"].status == "pass"
    assert results["lifetime"].reason == "expired"
    assert results["audience"].reason == "audience_mismatch"
    assert results["principal"].reason == "principal_not_allowed"
    assert results["resource"].status == "pass"


def test_explain_all_pass_names_the_matching_rule() -> None:
    results = explain_azure_token(signed(), KEYS, make_config(), NOW)
    assert {r.status for r in results} == {"pass"}
    assert next(r for r in results if r.check == "principal").detail == "matched by principal_id"


def test_explain_stops_after_a_bad_header_and_skips_signature_without_keys() -> None:
    results = {r.check: r.status for r in explain_azure_token(with_header(jku="x"), KEYS, make_config(), NOW)}
    assert results["header"] == "fail"
    assert results["principal"] == "skipped"
    no_keys = {r.check: r for r in explain_azure_token(signed(tenant=T2), None, make_config(), NOW)}
    assert no_keys["tenant"].status == "fail"
    assert no_keys["signature"].status == "skipped"
    outage = {
        r.check: r for r in explain_azure_token(signed(), None, make_config(), NOW, keys_problem="down")
    }
    assert (outage["signature"].status, outage["signature"].reason) == ("fail", "keys_unavailable")


def test_explain_of_garbage_fails_format_only() -> None:
    results = explain_azure_token("garbage", KEYS, make_config(), NOW)
    assert results[0].status == "fail"
    assert {r.status for r in results[1:]} == {"skipped"}


def test_claim_summary_keeps_short_identifiers_only() -> None:
    summary = claim_summary(signed(xms_mirid="x" * 5000, oid=OID_B))
    assert summary["oid"] == OID_B
    assert len(summary["xms_mirid"]) == 256
    assert claim_summary("not a token") == {}
    assert claim_summary(None) == {}
    assert claim_summary("a." + b64url(b"[]") + ".c") == {}


def test_verification_never_needs_more_than_the_key_it_names() -> None:
    # An expired token signed by a key we do not hold still reports the key problem first:
    # nothing about an unverified token is trusted past the signature check.
    with pytest.raises(AzureVerificationError) as caught:
        verify_azure_token(UNPUBLISHED.sign(claims(exp=STAMP - 3600)), KEYS, make_config(), NOW)
    assert caught.value.reason == "unknown_kid"


def test_leeway_is_small() -> None:
    assert 0 < LEEWAY_SECONDS <= 120
    assert timedelta(seconds=LEEWAY_SECONDS) < timedelta(minutes=5)


def test_unverified_key_id_reads_tid_and_kid_and_never_raises() -> None:
    assert unverified_key_id(signed()) == (T1, KEY.kid)
    assert unverified_key_id("not a token") is None
    assert unverified_key_id("a.b.c") is None  # not base64url JSON
    assert unverified_key_id(forge({"alg": "RS256"}, {"tid": T1})) is None  # no kid
    assert unverified_key_id(forge({"kid": "k1"}, {"tid": 7})) is None  # tid not a string
    assert unverified_key_id("x" * (MAX_TOKEN_LENGTH + 1)) is None
