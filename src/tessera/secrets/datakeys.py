"""Per-project data keys: random 32 bytes, sealed by the root keyring, cached unsealed in memory.

A project's data key encrypts its secrets and KMS key material; a key derived from it keys the
blind index of secret names. Root-key rotation re-seals data keys only, so secrets are never
re-encrypted for it, and the data key a server holds in its cache stays valid throughout.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from tessera.crypto import envelope
from tessera.crypto.keyring import Keyring, Sealed, UnknownRootKey
from tessera.crypto.secrets_hash import derive_key
from tessera.secrets.models import ProjectDataKey
from tessera.store.base import new_id
from tessera.store.dialects import insert_for

CACHE_ENTRIES = 10_000


def _data_key_aad(project_id: str) -> bytes:
    return envelope.bind("tessera:project-data-key:v1", project_id)


@dataclass(frozen=True, slots=True)
class ProjectKeys:
    """The unsealed keys of one project. Never logged, never returned."""

    project_id: str
    data_key: bytes
    index_key: bytes

    @classmethod
    def from_data_key(cls, project_id: str, data_key: bytes) -> ProjectKeys:
        return cls(project_id, data_key, derive_key(data_key, "secret-name-index"))

    def blind_index(self, name: str) -> str:
        return hmac.new(self.index_key, name.encode(), hashlib.sha256).hexdigest()

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return envelope.seal(plaintext, self.data_key, aad)

    def unseal(self, blob: bytes, aad: bytes, *, what: str) -> bytes:
        return envelope.unseal(blob, self.data_key, aad, what=what)

    def __repr__(self) -> str:  # keep key bytes out of tracebacks and debug output
        return f"ProjectKeys(project_id={self.project_id!r})"


class DataKeyCache:
    """Unsealed project keys, bounded LRU. One per app (AppContext.extras), shared by threads."""

    def __init__(self, keyring: Keyring, max_entries: int = CACHE_ENTRIES) -> None:
        self.keyring = keyring
        self._max = max_entries
        self._entries: OrderedDict[str, ProjectKeys] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, project_id: str, *, now: datetime) -> ProjectKeys:
        """The project's keys, creating its data key on first use.

        Raises:
            DecryptionFailed: the sealed key does not open (tampered, or an unknown root key).
        """
        with self._lock:
            cached = self._entries.get(project_id)
            if cached is not None:
                self._entries.move_to_end(project_id)
                return cached
        data_key, created = load_or_create(session, self.keyring, project_id, now=now)
        keys = ProjectKeys.from_data_key(project_id, data_key)
        if created:
            # Kept only once the key's row is committed. Were the transaction rolled back, a key
            # cached now would go on sealing secrets under a key the database does not have,
            # and they would be lost at the next restart. Until then the transaction's own
            # later lookups find its uncommitted row.
            event.listen(session, "after_commit", lambda _s: self._remember(project_id, keys), once=True)
        else:
            self._remember(project_id, keys)
        return keys

    def _remember(self, project_id: str, keys: ProjectKeys) -> None:
        with self._lock:
            self._entries[project_id] = keys
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def forget(self, project_id: str) -> None:
        with self._lock:
            self._entries.pop(project_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _unseal_row(keyring: Keyring, row: ProjectDataKey) -> bytes:
    return keyring.unseal(
        Sealed(row.root_key_id, row.sealed_key), _data_key_aad(row.project_id), what="project data key"
    )


_BY_PROJECT = select(ProjectDataKey).where(ProjectDataKey.project_id == bindparam("p_project_id"))


def load_or_create(
    session: Session, keyring: Keyring, project_id: str, *, now: datetime
) -> tuple[bytes, bool]:
    """The project's data key, created on first use; and whether this call created it.

    Created with one INSERT … ON CONFLICT DO NOTHING rather than in a savepoint: a secret read
    may be the first use, and on SQLite reads run outside a transaction, where that INSERT
    simply commits by itself. Whoever loses a race for the first key reads the winner's.
    """
    row = session.scalar(_BY_PROJECT, {"p_project_id": project_id})
    if row is not None:
        return _unseal_row(keyring, row), False
    data_key = envelope.random_key()
    sealed = keyring.seal(data_key, _data_key_aad(project_id))
    created = session.connection().execute(
        insert_for(session)(ProjectDataKey)
        .values(
            id=new_id(),
            project_id=project_id,
            root_key_id=sealed.key_id,
            sealed_key=sealed.blob,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[ProjectDataKey.__table__.c.project_id])
        # RETURNING says whether a row went in (rowcount is not reliable for this on every driver).
        .returning(ProjectDataKey.__table__.c.id)
    )
    if created.first() is not None:
        return data_key, True
    # Another request created it first; theirs is the one every secret will use.
    row = session.scalar(_BY_PROJECT, {"p_project_id": project_id})
    if row is None:
        raise RuntimeError(f"project data key for {project_id} vanished after a conflict")
    return _unseal_row(keyring, row), False


def unknown_root_key_ids(session: Session, keyring: Keyring) -> set[str]:
    """Root-key ids that seal some data key but are not configured (such a server must not start)."""
    used = set(session.scalars(select(ProjectDataKey.root_key_id).distinct()))
    return used - keyring.key_ids


def check_root_keys(session: Session, keyring: Keyring) -> None:
    """Raises UnknownRootKey naming the missing key ids."""
    missing = unknown_root_key_ids(session, keyring)
    if missing:
        raise UnknownRootKey(
            "The configured root keys do not open this database's data keys (sealed under root key "
            f"{', '.join(sorted(missing))}); start with the right TESSERA_ROOT_KEY, or list the old "
            "key in TESSERA_PREVIOUS_ROOT_KEYS",
            reason="unknown_root_key",
        )


@dataclass(frozen=True, slots=True)
class RotationReport:
    resealed: int
    already_current: int
    root_key_id: str


def rotate_data_keys(
    session_factory: sessionmaker[Session],
    keyring: Keyring,
    *,
    now: datetime,
    batch_size: int = 200,
    cache: DataKeyCache | None = None,
) -> RotationReport:
    """Re-seal every data key under the keyring's current root key, in small committed batches.

    Each row is rewritten by a conditional UPDATE (only if still sealed by the key it was read
    with), so running servers keep reading throughout and two rotations cannot clash.
    Raises UnknownRootKey / DecryptionFailed before touching a row it cannot open.
    """
    resealed = 0
    while True:
        with session_factory.begin() as session:
            rows = list(
                session.scalars(
                    select(ProjectDataKey)
                    .where(ProjectDataKey.root_key_id != keyring.current_id)
                    .order_by(ProjectDataKey.id)
                    .limit(batch_size)
                )
            )
            if not rows:
                break
            for row in rows:
                sealed = keyring.seal(_unseal_row(keyring, row), _data_key_aad(row.project_id))
                result = session.execute(
                    update(ProjectDataKey)
                    .where(ProjectDataKey.id == row.id, ProjectDataKey.root_key_id == row.root_key_id)
                    .values(root_key_id=sealed.key_id, sealed_key=sealed.blob, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                resealed += int(result.rowcount)  # type: ignore[attr-defined]
    if cache is not None:
        # The data keys themselves are unchanged, but nothing unsealed under the old key lingers.
        cache.clear()
    with session_factory() as session:
        total = session.scalar(select(func.count()).select_from(ProjectDataKey)) or 0
    return RotationReport(resealed=resealed, already_current=total - resealed, root_key_id=keyring.current_id)
