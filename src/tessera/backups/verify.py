"""Decrypt everything a database holds with the configured root keys, and report what fails.

Used after a backup, before and after a restore, and by the fault tests: a database whose
every data key unseals, whose every secret and secret version opens (in its own location, so a
row moved or swapped fails too) and whose every KMS key's material opens and fits its algorithm
and public key has lost nothing to a crash, a bad copy or a wrong key.
It only reads; the caller rolls the session back. The report names rows by id, never content.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tessera.crypto.keyring import Keyring
from tessera.errors import TesseraError
from tessera.kms_keys import crypto as kms_crypto
from tessera.kms_keys.models import KmsKey
from tessera.kms_keys.service import open_material
from tessera.projects.models import Environment, Project
from tessera.secrets.core import location, open_row
from tessera.secrets.datakeys import DataKeyCache, check_root_keys
from tessera.secrets.models import ProjectDataKey, Secret, SecretFolder, SecretVersion

BATCH = 500
MAX_LISTED_FAILURES = 50


@dataclass
class VerifyReport:
    data_keys: int = 0
    kms_keys: int = 0
    secrets: int = 0
    versions: int = 0
    failure_count: int = 0
    failures: list[str] = field(default_factory=list)
    inconsistencies: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure_count == 0 and not self.inconsistencies

    def fail(self, what: str, row_id: str, reason: str) -> None:
        """Count a row that failed; `reason` is a code, never content."""
        self.failure_count += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append(f"{what} {row_id}: {reason}")

    def summary(self) -> str:
        text = (
            f"{self.data_keys} data key(s), {self.kms_keys} KMS key(s), {self.secrets} secret(s) "
            f"and {self.versions} secret version(s) checked; {self.failure_count} could not be decrypted"
        )
        if self.inconsistencies:
            text += f"; {len(self.inconsistencies)} version inconsistenc(ies)"
        return text


def verify_database(session: Session, keyring: Keyring, *, now: datetime) -> VerifyReport:
    """Check every data key, KMS key, secret and secret version.

    Raises:
        UnknownRootKey: data keys are sealed under a root key that is not configured (nothing
        could be checked; the message names the key ids).
    """
    check_root_keys(session, keyring)
    report = VerifyReport()
    cache = DataKeyCache(keyring)
    for project_id in session.scalars(select(ProjectDataKey.project_id)):
        report.data_keys += 1
        try:
            cache.get(session, project_id, now=now)
        except TesseraError as exc:
            report.fail("data key of project", project_id, _reason(exc))
    _check_kms_keys(session, cache, report, now)
    _check_rows(session, cache, report, now, Secret, "secret")
    _check_rows(session, cache, report, now, SecretVersion, "secret version")
    report.inconsistencies = version_inconsistencies(session)
    return report


def _reason(exc: TesseraError) -> str:
    return exc.reason or exc.error


def _check_kms_keys(session: Session, cache: DataKeyCache, report: VerifyReport, now: datetime) -> None:
    for key in session.scalars(select(KmsKey).execution_options(yield_per=BATCH)):
        report.kms_keys += 1
        try:
            material = open_material(cache.get(session, key.project_id, now=now), key)
        except TesseraError as exc:
            report.fail("KMS key", key.id, _reason(exc))
            continue
        try:
            kms_crypto.check_material(key.encryption_algorithm, material, key.public_key)
        except kms_crypto.KeyOperationError:
            report.fail("KMS key", key.id, "kms_material_mismatch")


def _located(session: Session, model: type[Secret] | type[SecretVersion]) -> Iterable[tuple[object, ...]]:
    query = select(model, SecretFolder, Environment, Project)
    if model is SecretVersion:
        query = query.join(Secret, Secret.id == SecretVersion.secret_id)
        query = query.join(SecretFolder, SecretFolder.id == Secret.folder_id)
    else:
        query = query.join(SecretFolder, SecretFolder.id == Secret.folder_id)
    query = query.join(Environment, Environment.id == SecretFolder.env_id).join(
        Project, Project.id == SecretFolder.project_id
    )
    return session.execute(query.execution_options(yield_per=BATCH))


def _check_rows(
    session: Session,
    cache: DataKeyCache,
    report: VerifyReport,
    now: datetime,
    model: type[Secret] | type[SecretVersion],
    what: str,
) -> None:
    for row, folder, env, project in _located(session, model):
        assert isinstance(row, Secret | SecretVersion)
        assert isinstance(folder, SecretFolder)
        assert isinstance(env, Environment)
        assert isinstance(project, Project)
        if model is Secret:
            report.secrets += 1
        else:
            report.versions += 1
        try:
            open_row(cache.get(session, project.id, now=now), location(project, env, folder), row)
        except TesseraError as exc:
            report.fail(what, row.id, _reason(exc))


def version_inconsistencies(session: Session) -> list[str]:
    """Secrets whose history is not exactly versions 1..current (a half-written version shows here)."""
    history = (
        select(
            SecretVersion.secret_id,
            func.count().label("n"),
            func.min(SecretVersion.version).label("low"),
            func.max(SecretVersion.version).label("high"),
        )
        .group_by(SecretVersion.secret_id)
        .subquery()
    )
    rows = session.execute(
        select(Secret.id, Secret.version, history.c.n, history.c.low, history.c.high).outerjoin(
            history, history.c.secret_id == Secret.id
        )
    )
    problems = []
    for secret_id, current, count, low, high in rows:
        if count is None or (low, high, count) != (1, current, current):
            problems.append(f"secret {secret_id}: version {current}, history {low}..{high} ({count} rows)")
    return problems
