"""Wire schemas for KMS keys, as `infisicalsdk`'s kms module sends them (base64 payloads)."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_DATA_BYTES = 4096
NAME_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Algorithm = Literal["aes-256-gcm", "aes-128-gcm", "RSA_4096", "ECC_NIST_P256"]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def decode_b64(value: str, field: str, *, limit: int | None = MAX_DATA_BYTES) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{field} must be base64 encoded") from exc
    if limit is not None and len(raw) > limit:
        raise ValueError(f"{field} cannot exceed {limit} bytes")
    return raw


class KeyCreateIn(_In):
    project_id: str = Field(alias="projectId", min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=32, pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=500)
    key_usage: Literal["encrypt-decrypt", "sign-verify"] = Field("encrypt-decrypt", alias="keyUsage")
    encryption_algorithm: Algorithm = Field("aes-256-gcm", alias="encryptionAlgorithm")


class KeyUpdateIn(_In):
    name: str | None = Field(None, min_length=1, max_length=32, pattern=NAME_PATTERN)
    is_disabled: bool | None = Field(None, alias="isDisabled")
    description: str | None = Field(None, max_length=500)


class EncryptIn(_In):
    plaintext: str = Field(max_length=8192)

    @field_validator("plaintext")
    @classmethod
    def _b64(cls, value: str) -> str:
        decode_b64(value, "plaintext")
        return value


class DecryptIn(_In):
    ciphertext: str = Field(max_length=16384)

    @field_validator("ciphertext")
    @classmethod
    def _b64(cls, value: str) -> str:
        decode_b64(value, "ciphertext", limit=None)
        return value


class SignIn(_In):
    data: str = Field(max_length=8192)
    signing_algorithm: str = Field(alias="signingAlgorithm", max_length=64)
    is_digest: bool = Field(False, alias="isDigest")

    @field_validator("data")
    @classmethod
    def _b64(cls, value: str) -> str:
        decode_b64(value, "data")
        return value


class VerifyIn(SignIn):
    signature: str = Field(max_length=8192)

    @field_validator("signature")
    @classmethod
    def _sig(cls, value: str) -> str:
        decode_b64(value, "signature", limit=None)
        return value
