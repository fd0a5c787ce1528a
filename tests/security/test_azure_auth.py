"""Catalogue §2.2, Azure Auth (AZ-1 … AZ-25), against a local Entra ID stand-in, on both databases.

The identity under test is bound to tenant T1, resource R and service principal OID_A. The
stand-in publishes K1 for every tenant (as Entra does); K2 is never published. The authority
comes from server settings only, so every test stays on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from tessera.auth.azure.jwks import REFRESH_COOLDOWN, TIMEOUT_SECONDS
from tessera.auth.azure.models import IdentityAzureAuth
from tessera.auth.azure.verify import LEEWAY_SECONDS
from tessera.identities.models import IdentityAccessToken
from tessera.settings import Settings
from tests.conftest import Admin, make_settings
from tests.factories_auth import create_identity, serve
from tests.fakes.entra import FakeEntra, SigningKey, b64url, forge, token_claims
from tests.security.support import NO_RATE_LIMITS, count_rows, raw_http, same_answer, status_of

LOGIN = "/api/v1/auth/azure-auth/login"
T1 = "72f988bf-86f1-41af-91ab-2d7cd011db47"
T2 = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
OID_A = "11111111-1111-4111-8111-111111111111"
OID_B = "22222222-2222-4222-8222-222222222222"
RESOURCE = "api://tessera-prod"


@pytest.fixture(scope="module")
def entra() -> Iterator[FakeEntra]:
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def attacker() -> Iterator[FakeEntra]:
    """A listener an attacker would like the server to call (jku / x5u / redirects)."""
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, entra: FakeEntra) -> Settings:
    return make_settings(db_url, tmp_path / "data", azure_authority_host=entra.authority, **NO_RATE_LIMITS)


@pytest.fixture
def k1(entra: FakeEntra, attacker: FakeEntra) -> Iterator[SigningKey]:
    entra.keys.clear()
    entra.mode, entra.delay = "ok", 0.0
    entra.reset_counts()
    attacker.reset_counts()
    key = entra.new_key(kid="k1")
    yield key
    entra.mode, entra.delay = "ok", 0.0


def attach(client: TestClient, admin: Admin, identity_id: str, **fields: Any) -> Any:
    body = {"tenantId": T1, "resource": RESOURCE, "allowedServicePrincipalIds": OID_A, **fields}
    return client.post(f"/api/v1/auth/azure-auth/identities/{identity_id}", json=body, headers=admin.headers)


@pytest.fixture
def i_az(client: TestClient, app: Any, admin: Admin, k1: SigningKey) -> str:
    identity_id = create_identity(app, admin.org_id, name="i-az")
    assert attach(client, admin, identity_id).status_code == 200
    return identity_id


def claims(clock: Any, **extra: Any) -> dict[str, Any]:
    """A valid token's claims for i_az; `extra` overrides a claim, or removes it when None."""
    values = token_claims(tenant=T1, oid=OID_A, now=clock.now(), audience=RESOURCE)
    for name, value in extra.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return values


def login(client: TestClient, identity_id: str, token: str, **kwargs: Any) -> Any:
    return client.post(LOGIN, json={"identityId": identity_id, "jwt": token}, **kwargs)


def azure_tokens(app: Any) -> int:
    return count_rows(app, IdentityAccessToken, IdentityAccessToken.auth_method == "azure-auth")


def refused(client: TestClient, app: Any, identity_id: str, token: str) -> None:
    """The uniform 401, and nothing minted."""
    before = azure_tokens(app)
    response = login(client, identity_id, token)
    assert response.status_code == 401, response.text
    assert response.json()["message"] == "Invalid credentials"
    assert azure_tokens(app) == before


def test_az_1_baseline(client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any) -> None:
    response = login(client, i_az, k1.sign(claims(clock)))
    assert response.status_code == 200, response.text
    assert azure_tokens(app) == 1


def test_az_2_expired(client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any) -> None:
    stamp = int(clock.now().timestamp())
    refused(client, app, i_az, k1.sign(claims(clock, exp=stamp - 600, iat=stamp - 4000, nbf=stamp - 4000)))


def test_az_3_expired_within_the_documented_leeway(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any
) -> None:
    assert LEEWAY_SECONDS == 60  # the documented leeway; this test pins it
    stamp = int(clock.now().timestamp())
    old = {"iat": stamp - 3600, "nbf": stamp - 3600}
    assert login(client, i_az, k1.sign(claims(clock, exp=stamp - 30, **old))).status_code == 200
    refused(client, app, i_az, k1.sign(claims(clock, exp=stamp - LEEWAY_SECONDS - 1, **old)))


def test_az_4_nbf_in_the_future(client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any) -> None:
    refused(client, app, i_az, k1.sign(claims(clock, nbf=int(clock.now().timestamp()) + 600)))


def test_az_5_iat_in_the_future(client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any) -> None:
    refused(client, app, i_az, k1.sign(claims(clock, iat=int(clock.now().timestamp()) + 600)))


@pytest.mark.parametrize("claim", ["exp", "iat", "tid", "oid", "iss", "aud"])
def test_az_6_missing_required_claim(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, claim: str
) -> None:
    refused(client, app, i_az, k1.sign(claims(clock, **{claim: None})))


@pytest.mark.parametrize(
    ("audience", "accepted"),
    [
        ("https://management.azure.com/", False),
        (RESOURCE + "x", False),
        ("x" + RESOURCE, False),
        (RESOURCE[:-1], False),
        ([], False),
        ([RESOURCE], True),
        (RESOURCE, True),
        (RESOURCE + "/", True),  # documented: one trailing slash either way (IMDS echoes the request)
        (RESOURCE + "//", False),
        (RESOURCE.upper(), False),
    ],
    ids=[
        "arm",
        "suffix",
        "prefix",
        "truncated",
        "empty-list",
        "list",
        "string",
        "one-slash",
        "two-slashes",
        "case",
    ],
)
def test_az_7_audience_matrix(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, audience: Any, accepted: bool
) -> None:
    token = k1.sign(claims(clock, aud=audience))
    if accepted:
        assert login(client, i_az, token).status_code == 200
    else:
        refused(client, app, i_az, token)


@pytest.mark.parametrize(
    "issuer",
    [
        f"https://sts.windows.net/{T2}/",
        f"https://sts.windows.net/{T1}/x",
        f"xhttps://sts.windows.net/{T1}/",
        f"https://sts.windows.net/{T1}",
        f"https://login.microsoftonline.com/{T2}/v2.0",
        f"https://login.microsoftonline.com/{T1}/v2.0",  # the v2 issuer on a v1 token
        f"http://sts.windows.net/{T1}/",
        f"https://sts.windows.net/{T1.upper()}/",
    ],
    ids=["other-tenant", "suffix", "prefix", "no-slash", "v2-other-tenant", "v2-on-v1", "http", "upper"],
)
def test_az_8_issuer_near_misses(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, issuer: str
) -> None:
    refused(client, app, i_az, k1.sign(claims(clock, iss=issuer)))


def test_az_8_only_the_v1_or_v2_issuer_of_the_tenant_is_accepted(
    client: TestClient, i_az: str, k1: SigningKey, clock: Any
) -> None:
    v2 = token_claims(tenant=T1, oid=OID_A, now=clock.now(), audience=RESOURCE, version="2.0")
    assert login(client, i_az, k1.sign(v2)).status_code == 200
    assert login(client, i_az, k1.sign(claims(clock))).status_code == 200


def test_az_9_allowed_principal_in_another_tenant(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any
) -> None:
    other = token_claims(tenant=T2, oid=OID_A, now=clock.now(), audience=RESOURCE)
    refused(client, app, i_az, k1.sign(other))


@pytest.mark.parametrize("direction", ["iss-T1-tid-T2", "iss-T2-tid-T1"])
def test_az_10_tid_and_iss_disagree(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, direction: str
) -> None:
    if direction == "iss-T1-tid-T2":
        token = k1.sign(claims(clock, tid=T2))
    else:
        token = k1.sign(claims(clock, iss=f"https://sts.windows.net/{T2}/"))
    refused(client, app, i_az, token)


def test_az_11_principal_not_allowed_and_not_echoed(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any
) -> None:
    response = login(client, i_az, k1.sign(claims(clock, oid=OID_B, sub=OID_B)))
    assert response.status_code == 401
    assert OID_B not in response.text
    assert azure_tokens(app) == 0


def test_az_12_unknown_kid_fetches_keys_at_most_once_per_cooldown(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, entra: FakeEntra
) -> None:
    k2 = SigningKey.generate("k2")  # never published
    assert login(client, i_az, k1.sign(claims(clock))).status_code == 200
    assert entra.key_fetches() == 1
    for _ in range(3):
        refused(client, app, i_az, k2.sign(claims(clock)))
    assert entra.key_fetches() <= 2


@pytest.mark.timeout(120)
def test_az_13_kid_spray_does_not_amplify_key_fetches(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, entra: FakeEntra
) -> None:
    attacker_key = SigningKey.generate()
    started = time.monotonic()
    for _ in range(200):
        attacker_key.kid = uuid.uuid4().hex
        response = login(client, i_az, attacker_key.sign(claims(clock)))
        assert response.status_code == 401
    assert time.monotonic() - started < 60
    assert entra.key_fetches() <= 2  # the first fetch, then at most one refresh per cooldown window
    assert azure_tokens(app) == 0


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_az_14_alg_none(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, alg: str
) -> None:
    refused(client, app, i_az, forge({"alg": alg, "kid": "k1", "typ": "JWT"}, claims(clock)))


def _self_signed(key: SigningKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k1")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key.private_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def _public_encodings(key: SigningKey) -> dict[str, bytes]:
    public = key.private_key.public_key()
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    return {
        "spki-pem": public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
        "pkcs1-pem": public.public_bytes(enc.PEM, fmt.PKCS1),
        "spki-der": public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "x5c-base64": base64.b64encode(_self_signed(key)),
        "jwk-json": json.dumps(key.jwk()).encode(),
        "openssh": public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
    }


def _hs256(key_bytes: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    mac = hmac.new(key_bytes, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


@pytest.mark.parametrize(
    "encoding", ["spki-pem", "pkcs1-pem", "spki-der", "x5c-base64", "jwk-json", "openssh"]
)
def test_az_15_hs256_keyed_with_the_rsa_public_key(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, encoding: str
) -> None:
    """CVE-2017-11424, CVE-2022-29217, CVE-2024-33663, CVE-2024-37568: algorithm confusion."""
    key_bytes = _public_encodings(k1)[encoding]
    refused(client, app, i_az, _hs256(key_bytes, {"alg": "HS256", "kid": "k1", "typ": "JWT"}, claims(clock)))


def test_az_16_algorithms_other_than_rs256(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any
) -> None:
    payload = claims(clock)
    header = {"kid": "k1"}
    tokens = {
        "RS384": jwt.encode(payload, k1.private_key, algorithm="RS384", headers=header),
        "RS512": jwt.encode(payload, k1.private_key, algorithm="RS512", headers=header),
        "PS256": jwt.encode(payload, k1.private_key, algorithm="PS256", headers=header),
        "ES256": jwt.encode(
            payload, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers=header
        ),
        "EdDSA": jwt.encode(payload, ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=header),
    }
    for name, token in tokens.items():
        response = login(client, i_az, token)
        assert response.status_code == 401, name
    assert azure_tokens(app) == 0


@pytest.mark.parametrize("header", ["jwk", "jku", "x5u", "x5c"])
def test_az_17_embedded_key_headers_are_refused_without_any_fetch(
    client: TestClient,
    app: Any,
    i_az: str,
    k1: SigningKey,
    clock: Any,
    attacker: FakeEntra,
    entra: FakeEntra,
    header: str,
) -> None:
    """CVE-2022-39175: a key carried or pointed at by the token is never trusted or fetched."""
    evil = attacker.new_key(kid="k1")  # same kid as the real key, published only by the attacker
    values = {
        "jwk": evil.jwk(),
        "jku": f"{attacker.authority}/{T1}/discovery/keys",
        "x5u": f"{attacker.authority}/cert.pem",
        "x5c": [base64.b64encode(_self_signed(evil)).decode()],
    }
    refused(client, app, i_az, evil.sign(claims(clock), headers={header: values[header]}))
    assert attacker.requests == []
    assert entra.key_fetches() == 0  # refused before any key lookup


def test_az_18_unknown_crit_header(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any
) -> None:
    """CVE-2026-32597 / CVE-2025-59420: `crit` names an extension we do not understand."""
    refused(client, app, i_az, k1.sign(claims(clock), headers={"crit": ["exp2"], "exp2": 1}))


@pytest.mark.parametrize("form", ["jwe-5-segments", "zip-header"])
def test_az_19_jwe_or_compressed_token(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, form: str
) -> None:
    if form == "zip-header":
        token = k1.sign(claims(clock), headers={"zip": "DEF"})
    else:
        head = b64url(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "k1"}).encode())
        token = ".".join([head, b64url(b"k" * 32), b64url(b"i" * 12), b64url(b"c" * 64), b64url(b"t" * 16)])
    refused(client, app, i_az, token)


def test_az_20_oversized_jwt(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """CVE-2025-61920, CVE-2025-65015: huge tokens are refused fast and never logged."""
    huge_header = b64url(json.dumps({"alg": "RS256", "kid": "k1", "pad": "A" * 200_000}).encode())
    medium = huge_header + "." + k1.sign(claims(clock)).split(".", 1)[1]
    one_mib = "A" * (1024 * 1024)
    with caplog.at_level(logging.DEBUG):
        started = time.monotonic()
        assert login(client, i_az, medium).status_code == 401
        assert login(client, i_az, one_mib).status_code == 413
        assert time.monotonic() - started < 2
    for record in caplog.records:
        line = record.getMessage()
        assert len(line) < 4096
        assert "AAAAAAAAAAAAAAAAAAAAAAAA" not in line
    with serve(app) as base:  # 64 MiB declared: refused on the headers alone
        head = (
            f"POST {LOGIN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {64 * 1024 * 1024}\r\n\r\n"
        ).encode()
        assert status_of(raw_http(base, head + b'{"jwt": "AAAA')) == 413
    assert azure_tokens(app) == 0


DUPLICATE_ALG = b'{"alg":"none","alg":"RS256","kid":"k1"}'


@pytest.mark.parametrize(
    "shape",
    ["two-segments", "four-segments", "not-base64url", "padded-base64", "header-not-json", "duplicate-alg"],
)
def test_az_21_malformed_jwt(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, shape: str
) -> None:
    good = k1.sign(claims(clock))
    head, body, signature = good.split(".")
    tokens = {
        "two-segments": f"{head}.{body}",
        "four-segments": f"{head}.{body}.{signature}.{signature}",
        "not-base64url": f"{head}.{body}!*.{signature}",
        "padded-base64": f"{head}==.{body}.{signature}",
        "header-not-json": f"{b64url(b'not json')}.{body}.{signature}",
        "duplicate-alg": f"{b64url(DUPLICATE_ALG)}.{body}.{signature}",
    }
    refused(client, app, i_az, tokens[shape])


def test_az_22_no_enumeration_of_identities_or_configuration(
    client: TestClient, app: Any, admin: Admin, i_az: str, k1: SigningKey, clock: Any
) -> None:
    token = k1.sign(claims(clock))
    without_azure = create_identity(app, admin.org_id, name="no-azure")
    answers = [
        login(client, str(uuid.uuid4()), token),
        login(client, without_azure, token),
        login(client, i_az, k1.sign(claims(clock, oid=OID_B))),
        login(client, i_az, "x.y.z"),
    ]
    for answer in answers:
        assert answer.status_code == 401
        same_answer(answers[0], answer)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("failure", ["error", "html", "huge", "redirect", "hang"])
def test_az_23_key_endpoint_failure_modes(
    client: TestClient, app: Any, i_az: str, k1: SigningKey, clock: Any, entra: FakeEntra, failure: str
) -> None:
    token = k1.sign(claims(clock))
    if failure == "hang":
        entra.delay = TIMEOUT_SECONDS + 2
    else:
        entra.mode = failure
    started = time.monotonic()
    response = login(client, i_az, token)
    assert response.status_code == 503, response.text
    assert time.monotonic() - started < TIMEOUT_SECONDS + 1.5
    assert not [path for path in entra.requests if "/elsewhere/" in path]  # the redirect was not followed
    assert azure_tokens(app) == 0
    # Cached keys keep working once fetched: restore, log in after the refresh cooldown, break
    # the endpoint again, log in again.
    entra.mode, entra.delay = "ok", 0.0
    clock.advance(REFRESH_COOLDOWN.total_seconds() + 1)
    token = k1.sign(claims(clock))
    assert login(client, i_az, token).status_code == 200
    entra.mode = "error"
    assert login(client, i_az, k1.sign(claims(clock))).status_code == 200


@pytest.mark.parametrize(
    "tenant",
    [f"{T1}/../../x", "evil.com#", f"{T1}?a=", f"{T1}@attacker", "%2e%2e", "a" * 10_000, f" {T1}/", ""],
    ids=["dotdot", "fragment", "query", "userinfo", "encoded-dots", "10kb", "slash", "empty"],
)
def test_az_24_tenant_config_injection(client: TestClient, app: Any, admin: Admin, tenant: str) -> None:
    identity_id = create_identity(app, admin.org_id)
    response = attach(client, admin, identity_id, tenantId=tenant)
    assert response.status_code == 422, response.text
    assert len(response.content) < 2048  # a 10 KB value is not echoed back
    assert count_rows(app, IdentityAzureAuth) == 0


# Shaped like something an operator might paste into the wrong field by mistake.
PASTED_SECRET = "pasted-client-secret~Q8a.7f3a9cLk1"


@pytest.mark.parametrize(
    "fields",
    [
        {"tenantId": PASTED_SECRET},
        {"tenantIds": [T1, PASTED_SECRET]},
        {"allowedServicePrincipalIds": f"{OID_A}, {PASTED_SECRET}"},
        {"allowedClientIds": [PASTED_SECRET]},
        {"allowedSubscriptionIds": PASTED_SECRET},
        {"allowedResourceGroups": [PASTED_SECRET + " !"]},
        {"allowedResourceIds": [PASTED_SECRET]},
    ],
    ids=[
        "tenantId",
        "tenantIds",
        "principals",
        "clients",
        "subscriptions",
        "resource-groups",
        "resource-ids",
    ],
)
def test_az_24_lk_1_config_errors_do_not_echo_the_submitted_value(
    client: TestClient, app: Any, admin: Admin, i_az: str, fields: dict[str, Any]
) -> None:
    """A 422 names the field and the expected form, never what was sent (it may be a credential)."""
    created = attach(client, admin, create_identity(app, admin.org_id, name="fresh"), **fields)
    updated = client.patch(f"/api/v1/auth/azure-auth/identities/{i_az}", json=fields, headers=admin.headers)
    for response in (created, updated):
        assert response.status_code == 422, response.text
        assert PASTED_SECRET not in response.text
        (issue,) = response.json()["message"]
        assert issue["path"] == [next(iter(fields))]
        assert "GUID" in issue["message"] or "resource" in issue["message"]


def test_az_25_token_for_one_identity_does_not_open_another(
    client: TestClient, app: Any, admin: Admin, i_az: str, k1: SigningKey, clock: Any
) -> None:
    other_tenant = create_identity(app, admin.org_id, name="t2")
    assert attach(client, admin, other_tenant, tenantId=T2).status_code == 200
    other_principal = create_identity(app, admin.org_id, name="oid-b")
    assert attach(client, admin, other_principal, allowedServicePrincipalIds=OID_B).status_code == 200
    token = k1.sign(claims(clock))
    refused(client, app, other_tenant, token)
    refused(client, app, other_principal, token)
    assert login(client, i_az, token).status_code == 200


@pytest.mark.parametrize(
    ("claim", "offset", "accepted"),
    [
        ("exp", -(LEEWAY_SECONDS - 5), True),
        ("exp", -(LEEWAY_SECONDS + 5), False),
        ("nbf", LEEWAY_SECONDS - 5, True),
        ("nbf", LEEWAY_SECONDS + 5, False),
        ("iat", LEEWAY_SECONDS - 5, True),
        ("iat", LEEWAY_SECONDS + 5, False),
    ],
    ids=["exp-inside", "exp-outside", "nbf-inside", "nbf-outside", "iat-inside", "iat-outside"],
)
def test_rl_10_jwt_clock_skew_is_exactly_the_documented_leeway(
    client: TestClient,
    app: Any,
    i_az: str,
    k1: SigningKey,
    clock: Any,
    claim: str,
    offset: int,
    accepted: bool,
) -> None:
    stamp = int(clock.now().timestamp())
    values = {"iat": stamp - 600, "nbf": stamp - 600, "exp": stamp + 600}
    values[claim] = stamp + offset
    token = k1.sign(claims(clock, **values))
    if accepted:
        assert login(client, i_az, token).status_code == 200
    else:
        refused(client, app, i_az, token)
