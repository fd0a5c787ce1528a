"""`/api/v1/kms/keys…`: the customer-managed key routes `infisicalsdk`'s kms module calls."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from tessera.clock import iso_js
from tessera.kms_keys import service
from tessera.kms_keys.models import KmsKey
from tessera.kms_keys.schemas import (
    DecryptIn,
    EncryptIn,
    KeyCreateIn,
    KeyUpdateIn,
    SignIn,
    VerifyIn,
    decode_b64,
)
from tessera.secrets.http import CtxDep

router = APIRouter(prefix="/api/v1/kms/keys", tags=["kms keys"])


def key_wire(key: KmsKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "description": key.description,
        "isDisabled": key.is_disabled,
        "orgId": key.org_id,
        "name": key.name,
        "projectId": key.project_id,
        "keyUsage": key.key_usage,
        "version": key.version,
        "encryptionAlgorithm": key.encryption_algorithm,
        "createdAt": iso_js(key.created_at),
        "updatedAt": iso_js(key.updated_at),
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@router.post("", summary="Create a key")
def create_key(body: KeyCreateIn, ctx: CtxDep) -> dict[str, Any]:
    return {"key": key_wire(service.create_key(ctx, body))}


@router.get("", summary="List a project's keys")
def list_keys(
    ctx: CtxDep,
    project_id: Annotated[str, Query(alias="projectId", min_length=1, max_length=64)],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    order_by: Annotated[Literal["name"], Query(alias="orderBy")] = "name",
    order_direction: Annotated[Literal["asc", "desc"], Query(alias="orderDirection")] = "asc",
    search: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    page = service.list_keys(
        ctx, project_id, offset=offset, limit=limit, descending=order_direction == "desc", search=search
    )
    return {"keys": [key_wire(k) for k in page.keys], "totalCount": page.total}


@router.get("/key-name/{key_name}", summary="Get a key by name")
def get_key_by_name(
    key_name: str,
    ctx: CtxDep,
    project_id: Annotated[str, Query(alias="projectId", min_length=1, max_length=64)],
) -> dict[str, Any]:
    return {"key": key_wire(service.get_key_by_name(ctx, project_id, key_name))}


@router.get("/{key_id}", summary="Get a key")
def get_key(key_id: str, ctx: CtxDep) -> dict[str, Any]:
    return {"key": key_wire(service.get_key(ctx, key_id))}


@router.patch("/{key_id}", summary="Rename, describe, enable or disable a key")
def update_key(key_id: str, body: KeyUpdateIn, ctx: CtxDep) -> dict[str, Any]:
    return {"key": key_wire(service.update_key(ctx, key_id, body))}


@router.delete("/{key_id}", summary="Delete a key")
def delete_key(key_id: str, ctx: CtxDep) -> dict[str, Any]:
    return {"key": key_wire(service.delete_key(ctx, key_id))}


@router.post("/{key_id}/encrypt", summary="Encrypt base64 plaintext (at most 4096 bytes)")
def encrypt(key_id: str, body: EncryptIn, ctx: CtxDep) -> dict[str, Any]:
    return {"ciphertext": _b64(service.encrypt(ctx, key_id, decode_b64(body.plaintext, "plaintext")))}


@router.post("/{key_id}/decrypt", summary="Decrypt ciphertext made by this key")
def decrypt(key_id: str, body: DecryptIn, ctx: CtxDep) -> dict[str, Any]:
    raw = decode_b64(body.ciphertext, "ciphertext", limit=None)
    return {"plaintext": _b64(service.decrypt(ctx, key_id, raw))}


@router.get("/{key_id}/public-key", summary="The public key (base64 DER SubjectPublicKeyInfo)")
def public_key(key_id: str, ctx: CtxDep) -> dict[str, Any]:
    return {"publicKey": _b64(service.public_key(ctx, key_id))}


@router.get("/{key_id}/signing-algorithms", summary="Signing algorithms this key supports")
def signing_algorithms(key_id: str, ctx: CtxDep) -> dict[str, Any]:
    return {"signingAlgorithms": service.signing_algorithms(ctx, key_id)}


@router.post("/{key_id}/sign", summary="Sign base64 data (or a digest)")
def sign(key_id: str, body: SignIn, ctx: CtxDep) -> dict[str, Any]:
    key, signature = service.sign(
        ctx, key_id, body.signing_algorithm, decode_b64(body.data, "data"), is_digest=body.is_digest
    )
    return {"signature": _b64(signature), "keyId": key.id, "signingAlgorithm": body.signing_algorithm}


@router.post("/{key_id}/verify", summary="Verify a signature")
def verify(key_id: str, body: VerifyIn, ctx: CtxDep) -> dict[str, Any]:
    key, valid = service.verify(
        ctx,
        key_id,
        body.signing_algorithm,
        decode_b64(body.data, "data"),
        decode_b64(body.signature, "signature", limit=None),
        is_digest=body.is_digest,
    )
    return {"signatureValid": valid, "keyId": key.id, "signingAlgorithm": body.signing_algorithm}
