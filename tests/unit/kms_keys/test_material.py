"""`check_material`: what backup verification uses to tell a KMS key's material and public key fit."""

from __future__ import annotations

import pytest

from tessera.kms_keys import crypto


def test_freshly_generated_keys_fit() -> None:
    for algorithm in ("aes-256-gcm", "aes-128-gcm", crypto.ECC_NIST_P256):
        material = crypto.generate(algorithm)
        crypto.check_material(algorithm, material.private, material.public_der)


@pytest.fixture(scope="module")
def ecc() -> crypto.Material:
    return crypto.generate(crypto.ECC_NIST_P256)


@pytest.fixture(scope="module")
def other_ecc() -> crypto.Material:
    return crypto.generate(crypto.ECC_NIST_P256)


def test_symmetric_material_of_the_wrong_length_is_refused() -> None:
    material = crypto.generate("aes-128-gcm")
    with pytest.raises(crypto.KeyOperationError):
        crypto.check_material("aes-256-gcm", material.private, None)


def test_symmetric_key_with_a_public_key_is_refused(ecc: crypto.Material) -> None:
    material = crypto.generate("aes-256-gcm")
    with pytest.raises(crypto.KeyOperationError):
        crypto.check_material("aes-256-gcm", material.private, ecc.public_der)


def test_asymmetric_material_that_is_not_a_key_is_refused(ecc: crypto.Material) -> None:
    with pytest.raises(crypto.KeyOperationError):
        crypto.check_material(crypto.ECC_NIST_P256, b"\x30\x03junk", ecc.public_der)


def test_a_key_of_another_algorithm_is_refused(ecc: crypto.Material) -> None:
    with pytest.raises(crypto.KeyOperationError):
        crypto.check_material(crypto.RSA_4096, ecc.private, ecc.public_der)


def test_a_public_key_of_another_private_key_is_refused(
    ecc: crypto.Material, other_ecc: crypto.Material
) -> None:
    with pytest.raises(crypto.KeyOperationError):
        crypto.check_material(crypto.ECC_NIST_P256, ecc.private, other_ecc.public_der)
