"""Pure key operations for KMS keys: generate, encrypt/decrypt (AES-GCM), sign/verify (RSA, ECDSA).

AES-GCM goes through `tessera.crypto.envelope` like everything else; asymmetric keys are kept as
PKCS#8 DER (private, sealed by the caller) and SubjectPublicKeyInfo DER (public).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tessera.crypto import envelope

ENCRYPT_DECRYPT = "encrypt-decrypt"
SIGN_VERIFY = "sign-verify"
SYMMETRIC = {"aes-256-gcm": 32, "aes-128-gcm": 16}
RSA_4096 = "RSA_4096"
ECC_NIST_P256 = "ECC_NIST_P256"
ASYMMETRIC = (RSA_4096, ECC_NIST_P256)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA_256": hashes.SHA256,
    "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}
SIGNING_ALGORITHMS = {
    RSA_4096: [f"RSASSA_PSS_{h}" for h in _HASHES] + [f"RSASSA_PKCS1_V1_5_{h}" for h in _HASHES],
    ECC_NIST_P256: [f"ECDSA_{h}" for h in _HASHES],
}


class KeyOperationError(ValueError):
    """The request does not fit the key (wrong algorithm, digest length…); a client error."""


@dataclass(frozen=True, slots=True)
class Material:
    private: bytes
    public_der: bytes | None


def usage_of(algorithm: str) -> str:
    return ENCRYPT_DECRYPT if algorithm in SYMMETRIC else SIGN_VERIFY


def generate(algorithm: str) -> Material:
    if algorithm in SYMMETRIC:
        return Material(envelope.random_key(SYMMETRIC[algorithm]), None)
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == RSA_4096:
        private = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    elif algorithm == ECC_NIST_P256:
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise KeyOperationError(f"Unsupported key algorithm {algorithm}")
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Material(der, public)


def check_material(algorithm: str, private: bytes, public_der: bytes | None) -> None:
    """Check that unsealed material is a key of `algorithm` and matches the stored public key.

    The sealed material is authenticated by its envelope, but the public key is stored in the
    clear; a damaged one would make `verify` answer wrongly for every signature, so a backup
    check compares it with the one derived from the private key.

    Raises:
        KeyOperationError: the material or the public key does not fit.
    """
    if algorithm in SYMMETRIC:
        if len(private) != SYMMETRIC[algorithm] or public_der is not None:
            raise KeyOperationError(f"Material does not fit a {algorithm} key")
        return
    try:
        key = serialization.load_der_private_key(private, password=None)
    except ValueError as exc:
        raise KeyOperationError(f"Material is not a {algorithm} private key") from exc
    if not _is_key_of(key, algorithm):
        raise KeyOperationError(f"Material is not a {algorithm} private key")
    derived = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if derived != public_der:
        raise KeyOperationError("The stored public key does not match the private key")


def _is_key_of(key: object, algorithm: str) -> bool:
    if algorithm == RSA_4096:
        return isinstance(key, rsa.RSAPrivateKey) and key.key_size == 4096
    if algorithm == ECC_NIST_P256:
        return isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    return False


def _data_aad(key_id: str) -> bytes:
    return envelope.bind("tessera:kms-data:v1", key_id)


def encrypt(key: bytes, key_id: str, plaintext: bytes) -> bytes:
    return envelope.seal(plaintext, key, _data_aad(key_id))


def decrypt(key: bytes, key_id: str, blob: bytes) -> bytes:
    """Raises DecryptionFailed (wrong key, tampered or foreign ciphertext)."""
    return envelope.unseal(blob, key, _data_aad(key_id), what="ciphertext")


def _hash_for(signing_algorithm: str, key_algorithm: str) -> hashes.HashAlgorithm:
    if signing_algorithm not in SIGNING_ALGORITHMS.get(key_algorithm, []):
        raise KeyOperationError(f"Signing algorithm {signing_algorithm} is not available for this key")
    return _HASHES[signing_algorithm[-7:]]()


def _prepared(data: bytes, algorithm: hashes.HashAlgorithm, is_digest: bool) -> tuple[bytes, object]:
    if not is_digest:
        return data, algorithm
    if len(data) != algorithm.digest_size:
        raise KeyOperationError(f"A {algorithm.name} digest is {algorithm.digest_size} bytes")
    return data, utils.Prehashed(algorithm)


def _rsa_padding(signing_algorithm: str, algorithm: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    if signing_algorithm.startswith("RSASSA_PSS_"):
        return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
    return padding.PKCS1v15()


def sign(
    private_der: bytes, key_algorithm: str, signing_algorithm: str, data: bytes, *, is_digest: bool
) -> bytes:
    """Raises KeyOperationError."""
    algorithm = _hash_for(signing_algorithm, key_algorithm)
    payload, chosen = _prepared(data, algorithm, is_digest)
    private = serialization.load_der_private_key(private_der, password=None)
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(payload, _rsa_padding(signing_algorithm, algorithm), chosen)  # type: ignore[arg-type]
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(payload, ec.ECDSA(chosen))  # type: ignore[arg-type]
    raise KeyOperationError("This key cannot sign")


def verify(
    public_der: bytes,
    key_algorithm: str,
    signing_algorithm: str,
    data: bytes,
    signature: bytes,
    *,
    is_digest: bool,
) -> bool:
    """True only for a valid signature. Raises KeyOperationError for a request that cannot apply."""
    algorithm = _hash_for(signing_algorithm, key_algorithm)
    payload, chosen = _prepared(data, algorithm, is_digest)
    public = serialization.load_der_public_key(public_der)
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, payload, _rsa_padding(signing_algorithm, algorithm), chosen)  # type: ignore[arg-type]
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, payload, ec.ECDSA(chosen))  # type: ignore[arg-type]
        else:
            raise KeyOperationError("This key cannot verify")
    except InvalidSignature:
        return False
    return True
