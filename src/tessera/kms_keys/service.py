"""KMS keys per project: lifecycle and cryptographic operations, all under the `cmek` permissions.

Key material is sealed with the project's data key and bound to the key's project, id and
algorithm, so it is never readable from the database alone and cannot be swapped between keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tessera.crypto import envelope
from tessera.errors import BadRequest, Conflict, DecryptionFailed, NotFound, ValidationFailure
from tessera.kms_keys import crypto
from tessera.kms_keys.models import KmsKey
from tessera.kms_keys.schemas import KeyCreateIn, KeyUpdateIn
from tessera.projects.models import Project
from tessera.rbac import service as rbac
from tessera.secrets.core import Ctx, project_in_org
from tessera.secrets.datakeys import ProjectKeys
from tessera.store.base import new_id

CMEK = "cmek"


@dataclass(frozen=True, slots=True)
class KeyPage:
    keys: list[KmsKey]
    total: int


def _require(ctx: Ctx, project: Project, action: str) -> None:
    rbac.require_project(ctx.session, ctx.principal, project, action, CMEK)


def _material_aad(key: KmsKey) -> bytes:
    return envelope.bind("tessera:kms-key:v1", key.project_id, key.id, key.encryption_algorithm)


def open_material(keys: ProjectKeys, key: KmsKey) -> bytes:
    """The key's unsealed material.

    Raises:
        DecryptionFailed: the material was modified, moved to another key, or sealed under another
        data key.
    """
    return keys.unseal(key.sealed_material, _material_aad(key), what="KMS key")


def _not_found(key_id: str) -> NotFound:
    return NotFound(f"Key with ID {key_id} not found", reason="kms_key_not_found")


def _load(ctx: Ctx, key_id: str, action: str) -> tuple[KmsKey, Project]:
    """Another organisation's key is reported exactly like a missing one."""
    key = ctx.session.get(KmsKey, key_id)
    if key is None or key.org_id != ctx.principal.org_id:
        raise _not_found(key_id)
    project = project_in_org(ctx.session, ctx.principal, key.project_id)
    _require(ctx, project, action)
    return key, project


def create_key(ctx: Ctx, body: KeyCreateIn) -> KmsKey:
    """Raises NotFound (project), PermissionDenied, ValidationFailure (usage vs algorithm), Conflict."""
    project = project_in_org(ctx.session, ctx.principal, body.project_id)
    _require(ctx, project, "create")
    if crypto.usage_of(body.encryption_algorithm) != body.key_usage:
        raise ValidationFailure(
            "encryptionAlgorithm",
            f"Key algorithm {body.encryption_algorithm} cannot be used for {body.key_usage}",
        )
    material = crypto.generate(body.encryption_algorithm)
    key = KmsKey(
        id=new_id(),  # known before sealing: the material is bound to it
        project_id=project.id,
        org_id=project.org_id,
        name=body.name,
        description=body.description,
        is_disabled=False,
        key_usage=body.key_usage,
        encryption_algorithm=body.encryption_algorithm,
        version=1,
        public_key=material.public_der,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    key.sealed_material = ctx.keys(project).seal(material.private, _material_aad(key))
    try:
        with ctx.session.begin_nested():
            ctx.session.add(key)
            ctx.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A key with the name {body.name} already exists", reason="kms_key_exists") from exc
    return key


def list_keys(
    ctx: Ctx, project_id: str, *, offset: int, limit: int, descending: bool, search: str | None
) -> KeyPage:
    project = project_in_org(ctx.session, ctx.principal, project_id)
    _require(ctx, project, "read")
    query = select(KmsKey).where(KmsKey.project_id == project.id)
    if search:
        # autoescape: `%` and `_` in the search text match themselves, not everything.
        query = query.where(KmsKey.name.contains(search, autoescape=True))
    total = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = KmsKey.name.desc() if descending else KmsKey.name.asc()
    keys = list(ctx.session.scalars(query.order_by(order, KmsKey.id).offset(offset).limit(limit)))
    return KeyPage(keys, total)


def get_key(ctx: Ctx, key_id: str) -> KmsKey:
    return _load(ctx, key_id, "read")[0]


def get_key_by_name(ctx: Ctx, project_id: str, name: str) -> KmsKey:
    project = project_in_org(ctx.session, ctx.principal, project_id)
    _require(ctx, project, "read")
    key = ctx.session.scalar(select(KmsKey).where(KmsKey.project_id == project.id, KmsKey.name == name))
    if key is None:
        raise NotFound(f"Key with name {name} not found", reason="kms_key_not_found")
    return key


def update_key(ctx: Ctx, key_id: str, body: KeyUpdateIn) -> KmsKey:
    key, _ = _load(ctx, key_id, "edit")
    if body.name is not None:
        key.name = body.name
    if body.description is not None:
        key.description = body.description
    if body.is_disabled is not None:
        key.is_disabled = body.is_disabled
    key.updated_at = ctx.now
    try:
        with ctx.session.begin_nested():
            ctx.session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A key with the name {body.name} already exists", reason="kms_key_exists") from exc
    return key


def delete_key(ctx: Ctx, key_id: str) -> KmsKey:
    key, _ = _load(ctx, key_id, "delete")
    ctx.session.delete(key)
    ctx.session.flush()
    return key


def _usable(ctx: Ctx, key_id: str, action: str, usage: str) -> tuple[KmsKey, bytes]:
    key, project = _load(ctx, key_id, action)
    if key.is_disabled:
        raise BadRequest("Key is disabled", reason="kms_key_disabled")
    if key.key_usage != usage:
        raise BadRequest(f"Key usage {key.key_usage} does not allow {action}", reason="kms_key_usage")
    return key, open_material(ctx.keys(project), key)


def encrypt(ctx: Ctx, key_id: str, plaintext: bytes) -> bytes:
    key, material = _usable(ctx, key_id, "encrypt", crypto.ENCRYPT_DECRYPT)
    return crypto.encrypt(material, key.id, plaintext)


def decrypt(ctx: Ctx, key_id: str, ciphertext: bytes) -> bytes:
    """Raises BadRequest for ciphertext this key did not produce (a client error, not a 500)."""
    key, material = _usable(ctx, key_id, "decrypt", crypto.ENCRYPT_DECRYPT)
    try:
        return crypto.decrypt(material, key.id, ciphertext)
    except DecryptionFailed as exc:
        raise BadRequest(
            "The ciphertext could not be decrypted with this key", reason="kms_bad_ciphertext"
        ) from exc


def sign(
    ctx: Ctx, key_id: str, signing_algorithm: str, data: bytes, *, is_digest: bool
) -> tuple[KmsKey, bytes]:
    key, material = _usable(ctx, key_id, "sign", crypto.SIGN_VERIFY)
    try:
        return key, crypto.sign(
            material, key.encryption_algorithm, signing_algorithm, data, is_digest=is_digest
        )
    except crypto.KeyOperationError as exc:
        raise BadRequest(str(exc), reason="kms_sign_invalid") from exc


def verify(
    ctx: Ctx, key_id: str, signing_algorithm: str, data: bytes, signature: bytes, *, is_digest: bool
) -> tuple[KmsKey, bool]:
    key, _material = _usable(ctx, key_id, "verify", crypto.SIGN_VERIFY)
    assert key.public_key is not None
    try:
        valid = crypto.verify(
            key.public_key, key.encryption_algorithm, signing_algorithm, data, signature, is_digest=is_digest
        )
    except crypto.KeyOperationError as exc:
        raise BadRequest(str(exc), reason="kms_verify_invalid") from exc
    return key, valid


def public_key(ctx: Ctx, key_id: str) -> bytes:
    key, _ = _load(ctx, key_id, "read")
    if key.public_key is None:
        raise BadRequest("Only asymmetric (sign-verify) keys have a public key", reason="kms_not_asymmetric")
    return key.public_key


def signing_algorithms(ctx: Ctx, key_id: str) -> list[str]:
    key, _ = _load(ctx, key_id, "read")
    return list(crypto.SIGNING_ALGORITHMS.get(key.encryption_algorithm, []))
