"""`/api/v1/kms/keys`: lifecycle, AES-GCM encrypt/decrypt, RSA/ECDSA sign/verify, permissions."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tessera.kms_keys.models import KmsKey
from tests.api.secrets_support import restricted_headers
from tests.conftest import Admin

KEYS = "/api/v1/kms/keys"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class Kms:
    def __init__(self, client: TestClient, project_id: str, headers: dict[str, str]) -> None:
        self.client, self.project_id, self.headers = client, project_id, headers

    def create(self, name: str, **extra: Any) -> Any:
        return self.client.post(
            KEYS, json={"projectId": self.project_id, "name": name, **extra}, headers=self.headers
        )

    def key(self, name: str, **extra: Any) -> dict[str, Any]:
        response = self.create(name, **extra)
        assert response.status_code == 200, response.text
        key: dict[str, Any] = response.json()["key"]
        return key

    def post(self, key_id: str, op: str, **body: Any) -> Any:
        return self.client.post(f"{KEYS}/{key_id}/{op}", json=body, headers=self.headers)


@pytest.fixture
def kms(fast_passwords: None, client: TestClient, admin: Admin, project: dict[str, Any]) -> Kms:
    return Kms(client, project["id"], admin.headers)


def test_key_object_has_what_the_sdk_reads(kms: Kms, admin: Admin) -> None:
    key = kms.key("payments", description="for payments")
    assert set(key) >= {
        "id",
        "description",
        "isDisabled",
        "orgId",
        "name",
        "projectId",
        "version",
        "encryptionAlgorithm",
    }
    assert (key["orgId"], key["projectId"], key["encryptionAlgorithm"]) == (
        admin.org_id,
        kms.project_id,
        "aes-256-gcm",
    )
    assert (key["keyUsage"], key["version"], key["isDisabled"]) == ("encrypt-decrypt", 1, False)


def test_lifecycle(kms: Kms) -> None:
    key = kms.key("one")
    assert kms.client.get(f"{KEYS}/{key['id']}", headers=kms.headers).json()["key"]["name"] == "one"
    by_name = kms.client.get(
        f"{KEYS}/key-name/one", params={"projectId": kms.project_id}, headers=kms.headers
    )
    assert by_name.json()["key"]["id"] == key["id"]
    patched = kms.client.patch(
        f"{KEYS}/{key['id']}", json={"name": "renamed", "description": "d"}, headers=kms.headers
    )
    assert (patched.json()["key"]["name"], patched.json()["key"]["description"]) == ("renamed", "d")
    assert kms.create("renamed").status_code == 409
    deleted = kms.client.request("DELETE", f"{KEYS}/{key['id']}", json={}, headers=kms.headers)
    assert deleted.status_code == 200
    assert kms.client.get(f"{KEYS}/{key['id']}", headers=kms.headers).status_code == 404


def test_list_paging_order_and_literal_search(kms: Kms) -> None:
    for name in ("b-key", "a-key", "c-key", "ab"):
        kms.key(name)
    page = kms.client.get(
        KEYS, params={"projectId": kms.project_id, "limit": 2, "offset": 1}, headers=kms.headers
    ).json()
    assert ([k["name"] for k in page["keys"]], page["totalCount"]) == (["ab", "b-key"], 4)
    desc = kms.client.get(
        KEYS, params={"projectId": kms.project_id, "orderDirection": "desc"}, headers=kms.headers
    )
    assert desc.json()["keys"][0]["name"] == "c-key"
    for search, expected in (("-key", 3), ("%", 0), ("_", 0)):
        found = kms.client.get(
            KEYS, params={"projectId": kms.project_id, "search": search}, headers=kms.headers
        )
        assert found.json()["totalCount"] == expected, search


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Upper"},
        {"name": "x" * 33},
        {"name": "ok", "keyUsage": "sign-verify"},
        {"name": "ok", "keyUsage": "encrypt-decrypt", "encryptionAlgorithm": "RSA_4096"},
        {"name": "ok", "encryptionAlgorithm": "des"},
        {"name": "ok", "description": "d" * 501},
    ],
    ids=["uppercase", "long", "sym-sign", "asym-encrypt", "unknown-alg", "long-description"],
)
def test_invalid_keys_are_422(kms: Kms, body: dict[str, Any]) -> None:
    fields = dict(body)  # the parameter dict is shared by both database runs
    name = fields.pop("name")
    assert kms.create(name, **fields).status_code == 422


@pytest.mark.parametrize("algorithm", ["aes-256-gcm", "aes-128-gcm"])
def test_encrypt_decrypt_round_trip(kms: Kms, algorithm: str) -> None:
    key = kms.key("k", encryptionAlgorithm=algorithm)
    plaintext = b"\x00\xff\xfe\x80 binary"
    ciphertext = kms.post(key["id"], "encrypt", plaintext=b64(plaintext)).json()["ciphertext"]
    assert base64.b64decode(ciphertext) != plaintext
    decrypted = kms.post(key["id"], "decrypt", ciphertext=ciphertext)
    assert base64.b64decode(decrypted.json()["plaintext"]) == plaintext


def test_ciphertext_only_opens_with_its_own_key(kms: Kms) -> None:
    one, two = kms.key("one"), kms.key("two")
    ciphertext = kms.post(one["id"], "encrypt", plaintext=b64(b"x")).json()["ciphertext"]
    assert kms.post(two["id"], "decrypt", ciphertext=ciphertext).status_code == 400
    tampered = bytearray(base64.b64decode(ciphertext))
    tampered[-1] ^= 1
    assert kms.post(one["id"], "decrypt", ciphertext=b64(bytes(tampered))).status_code == 400


@pytest.mark.parametrize(
    ("op", "body", "message"),
    [
        ("encrypt", {"plaintext": "not base64!"}, "plaintext must be base64 encoded"),
        ("encrypt", {"plaintext": b64(b"x" * 4097)}, "plaintext cannot exceed 4096 bytes"),
        ("decrypt", {"ciphertext": "%%%"}, "ciphertext must be base64 encoded"),
    ],
    ids=["bad-b64", "too-big", "bad-ciphertext-b64"],
)
def test_payload_validation(kms: Kms, op: str, body: dict[str, str], message: str) -> None:
    key = kms.key("k")
    response = kms.post(key["id"], op, **body)
    assert response.status_code == 422
    assert message in str(response.json()["message"])


def test_disabled_key_refuses_work(kms: Kms) -> None:
    key = kms.key("k")
    kms.client.patch(f"{KEYS}/{key['id']}", json={"isDisabled": True}, headers=kms.headers)
    assert kms.post(key["id"], "encrypt", plaintext=b64(b"x")).status_code == 400


@pytest.mark.parametrize(
    ("algorithm", "signing", "other"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_256", "ECDSA_SHA_512"),
        ("RSA_4096", "RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384"),
    ],
    ids=["ecdsa", "rsa"],
)
def test_sign_verify_and_public_key(kms: Kms, algorithm: str, signing: str, other: str) -> None:
    key = kms.key("signer", keyUsage="sign-verify", encryptionAlgorithm=algorithm)
    algorithms = kms.client.get(f"{KEYS}/{key['id']}/signing-algorithms", headers=kms.headers).json()
    assert signing in algorithms["signingAlgorithms"]
    assert other in algorithms["signingAlgorithms"]
    data = b"message to sign"
    for name in (signing, other):
        signed = kms.post(key["id"], "sign", data=b64(data), signingAlgorithm=name).json()
        assert (signed["keyId"], signed["signingAlgorithm"]) == (key["id"], name)
        ok = kms.post(
            key["id"], "verify", data=b64(data), signature=signed["signature"], signingAlgorithm=name
        )
        assert ok.json()["signatureValid"] is True
        bad = kms.post(
            key["id"], "verify", data=b64(b"other"), signature=signed["signature"], signingAlgorithm=name
        )
        assert bad.json()["signatureValid"] is False
    digest = hashlib.sha256(data).digest()
    prehashed = kms.post(key["id"], "sign", data=b64(digest), signingAlgorithm=signing, isDigest=True).json()
    verified = kms.post(
        key["id"], "verify", data=b64(data), signature=prehashed["signature"], signingAlgorithm=signing
    )
    assert verified.json()["signatureValid"] is True
    der = base64.b64decode(
        kms.client.get(f"{KEYS}/{key['id']}/public-key", headers=kms.headers).json()["publicKey"]
    )
    public = serialization.load_der_public_key(der)
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(base64.b64decode(prehashed["signature"]), data, ec.ECDSA(hashes.SHA256()))
    assert (
        kms.post(key["id"], "sign", data=b64(b"short"), signingAlgorithm=signing, isDigest=True).status_code
        == 400
    )
    assert kms.post(key["id"], "encrypt", plaintext=b64(b"x")).status_code == 400


def test_wrong_family_signing_algorithm_is_400(kms: Kms) -> None:
    key = kms.key("signer", keyUsage="sign-verify", encryptionAlgorithm="ECC_NIST_P256")
    assert (
        kms.post(key["id"], "sign", data=b64(b"d"), signingAlgorithm="RSASSA_PSS_SHA_256").status_code == 400
    )
    symmetric = kms.key("sym")
    assert (
        kms.post(symmetric["id"], "sign", data=b64(b"d"), signingAlgorithm="ECDSA_SHA_256").status_code == 400
    )
    assert kms.client.get(f"{KEYS}/{symmetric['id']}/public-key", headers=kms.headers).status_code == 400


def test_key_material_is_sealed_at_rest(kms: Kms, engine: Engine) -> None:
    key = kms.key("k", encryptionAlgorithm="ECC_NIST_P256", keyUsage="sign-verify")
    with Session(engine) as session:
        row = session.scalars(select(KmsKey)).one()
    with pytest.raises(ValueError):  # noqa: PT011 - any parse failure will do
        serialization.load_der_private_key(row.sealed_material, password=None)
    assert row.public_key is not None
    assert key["id"] == row.id


def test_cmek_permissions_apply(kms: Kms, client: TestClient, app: Any, admin: Admin) -> None:
    key = kms.key("k")
    ciphertext = kms.post(key["id"], "encrypt", plaintext=b64(b"x")).json()["ciphertext"]
    crypto_only = Kms(
        client,
        kms.project_id,
        restricted_headers(
            client, app, admin, kms.project_id, [{"subject": "cmek", "action": ["encrypt"]}], slug="enc"
        ),
    )
    assert crypto_only.post(key["id"], "encrypt", plaintext=b64(b"y")).status_code == 200
    assert crypto_only.post(key["id"], "decrypt", ciphertext=ciphertext).status_code == 403
    assert crypto_only.create("new").status_code == 403
    assert (
        client.get(KEYS, params={"projectId": kms.project_id}, headers=crypto_only.headers).status_code == 403
    )


def test_another_projects_or_unknown_key_is_404(kms: Kms) -> None:
    assert (
        kms.client.get(f"{KEYS}/00000000-0000-0000-0000-000000000000", headers=kms.headers).status_code == 404
    )
    assert kms.client.get(KEYS, params={"projectId": "nope"}, headers=kms.headers).status_code == 404
