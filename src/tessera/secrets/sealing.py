"""Sealing a secret's content: one AES-GCM blob bound to where the secret lives.

The associated data names the project, the environment (by id, which never changes), the folder
path, the blind index of the name and the version. A row copied to another folder, project or
name, or an old version's blob copied over the live row, fails to open.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

import orjson

from tessera.crypto import envelope
from tessera.errors import DecryptionFailed
from tessera.secrets.datakeys import ProjectKeys


@dataclass(frozen=True, slots=True)
class SecretContent:
    """Everything about a secret that is sealed (and so never in a column in the clear)."""

    key: str
    value: str
    comment: str = ""
    reminder_note: str | None = None
    metadata: list[dict[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:  # values must not surface in tracebacks or debug logs
        return "SecretContent(<sealed>)"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a secret lives: the context its blob is bound to."""

    project_id: str
    env_id: str
    path: str


def _encode(content: SecretContent) -> bytes:
    return orjson.dumps(
        {
            "k": content.key,
            "v": content.value,
            "c": content.comment,
            "n": content.reminder_note,
            "m": content.metadata,
        }
    )


def _decode(raw: bytes) -> SecretContent:
    data = orjson.loads(raw)
    return SecretContent(
        key=data["k"], value=data["v"], comment=data["c"], reminder_note=data["n"], metadata=data["m"]
    )


def _aad(where: Location, blind_index: str, version: int) -> bytes:
    return envelope.bind(
        "tessera:secret:v1", where.project_id, where.env_id, where.path, blind_index, str(version)
    )


def seal_secret(
    keys: ProjectKeys, where: Location, content: SecretContent, version: int
) -> tuple[str, bytes]:
    """Returns (blind index, sealed blob)."""
    blind_index = keys.blind_index(content.key)
    return blind_index, keys.seal(_encode(content), _aad(where, blind_index, version))


def open_secret(
    keys: ProjectKeys, where: Location, *, blind_index: str, version: int, blob: bytes
) -> SecretContent:
    """Raises DecryptionFailed; nothing of the content is returned or named on failure."""
    content = _decode(keys.unseal(blob, _aad(where, blind_index, version), what="secret"))
    # The index is in the AAD already; re-deriving it also catches a writer bug that sealed a
    # name under another name's index.
    if not hmac.compare_digest(keys.blind_index(content.key), blind_index):
        raise DecryptionFailed("Stored secret does not match its index", reason="blind_index_mismatch")
    return content
