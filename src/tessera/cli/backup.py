"""`tessera backup` and `tessera restore`.

SQLite (the embedded default): an online, consistent snapshot through SQLite's backup API, and a
restore through the same API; both verified by decrypting every secret with the configured root
keys. PostgreSQL: its own tools do this better (`pg_dump` / `pg_restore`, or the provider's
snapshots), so the commands print how and refuse; `tessera restore --check` then verifies the
restored database the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tessera.backups.verify import VerifyReport
    from tessera.crypto.keyring import Keyring
    from tessera.settings import Settings

# Heavy imports (SQLAlchemy, Alembic, the secrets code) happen inside the commands, so that
# registering them costs the rest of the CLI nothing at start-up.

EXIT_FAILED = 1
EXIT_REFUSED = 2


def postgres_guidance(url: str) -> str:
    """How to back up and restore PostgreSQL, with the configured URL in libpq form (no password)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    shown = parsed.render_as_string(hide_password=True)
    return "\n".join(
        [
            "This deployment uses PostgreSQL; back it up with PostgreSQL's own tools:",
            f"  pg_dump --format=custom --file=tessera-$(date -u +%Y%m%dT%H%M%SZ).dump '{shown}'",
            "Restore into an empty database (servers stopped), then check it:",
            f"  pg_restore --clean --if-exists --no-owner --dbname='{shown}' tessera-<time>.dump",
            "  tessera restore --check",
            "Managed PostgreSQL: point-in-time recovery or provider snapshots work as well.",
            "Either way, keep TESSERA_ROOT_KEY (and any previous root keys) backed up separately:",
            "a backup is useless without them, and must not be stored next to them.",
        ]
    )


def keyring_for(settings: Settings) -> Keyring:
    """The configured root keys; in development also the key file in the data directory.

    Raises:
        SettingsError: no root key is configured (none is ever generated here).
    """
    from tessera.crypto.keyring import Keyring
    from tessera.settings import ROOT_KEY_FILE

    if settings.root_key is None and (settings.data_dir / ROOT_KEY_FILE).exists():
        settings = settings.ensure_keys()
    return Keyring.from_settings(settings)


def verify_engine(engine: Engine, keyring: Keyring) -> VerifyReport:
    """Decrypt everything in the database behind `engine`; nothing is written."""
    from sqlalchemy.orm import Session

    from tessera.backups.verify import verify_database
    from tessera.clock import SystemClock

    with engine.connect() as connection, Session(bind=connection) as session:
        try:
            return verify_database(session, keyring, now=SystemClock().now())
        finally:
            session.rollback()


def backup_revision_problem(engine: Engine) -> str | None:
    """Why this version cannot restore the backup's schema, or None."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from tessera.store import migrate

    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        return "the file holds no Tessera schema"
    try:
        known = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        return f"the backup's schema revision {revision} is newer than this version of Tessera"
    return None


def _report(report: VerifyReport) -> None:
    print(report.summary())
    for line in report.failures + report.inconsistencies[:20]:
        print(f"  {line}")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def _settings() -> Settings:
    from tessera.cli.main import load_settings

    return load_settings()


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    from tessera.cli.main import fail

    return fail(message, code)


def backup(
    destination: Annotated[Path, typer.Argument(help="File to write (must not exist).")],
    verify: Annotated[
        bool, typer.Option(help="Decrypt every secret in the copy with the configured root keys.")
    ] = True,
) -> None:
    """Write a consistent snapshot of the embedded SQLite database while servers keep running."""
    from tessera.backups.snapshot import BackupError, snapshot, sqlite_path

    settings = _settings()
    if not settings.is_sqlite:
        print(postgres_guidance(settings.resolved_database_url))
        raise typer.Exit(EXIT_REFUSED)
    try:
        source = sqlite_path(settings.resolved_database_url)
        snapshot(source, destination, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    print(f"wrote {destination} ({destination.stat().st_size} bytes, mode 0600, integrity ok)")
    if verify:
        _verify_file(settings, destination, what="backup")
    print("Keep TESSERA_ROOT_KEY backed up separately: the backup cannot be read without it.")


def _verify_file(settings: Settings, path: Path, *, what: str) -> None:
    """Decrypt everything in `path`; exits non-zero naming what failed."""
    from tessera.backups.snapshot import read_only_engine
    from tessera.errors import TesseraError
    from tessera.settings import SettingsError

    try:
        keyring = keyring_for(settings)
    except SettingsError as exc:
        raise _fail(f"cannot verify the {what}: {exc}") from None
    engine = read_only_engine(path)
    try:
        report = verify_engine(engine, keyring)
    except TesseraError as exc:
        raise _fail(f"the {what} cannot be decrypted with the configured root keys: {exc.message}") from None
    finally:
        engine.dispose()
    _report(report)
    if not report.ok:
        raise _fail(f"the {what} did not verify")


def restore(
    backup_file: Annotated[
        Path | None, typer.Argument(help="Backup written by `tessera backup`.", show_default=False)
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Only verify the configured database (e.g. after pg_restore); change nothing."
        ),
    ] = False,
) -> None:
    """Replace the embedded SQLite database with a verified backup (stop the servers first)."""
    settings = _settings()
    if check:
        _check_configured(settings)
        return
    if backup_file is None:
        raise _fail("name the backup file to restore (or pass --check)", EXIT_REFUSED)
    if not settings.is_sqlite:
        print(postgres_guidance(settings.resolved_database_url))
        raise typer.Exit(EXIT_REFUSED)
    _restore_sqlite(settings, backup_file, yes=yes)


def _check_configured(settings: Settings) -> None:
    from tessera.errors import TesseraError
    from tessera.settings import SettingsError
    from tessera.store.engine import make_engine

    try:
        keyring = keyring_for(settings)
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    engine = make_engine(
        settings.resolved_database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    try:
        report = verify_engine(engine, keyring)
    except TesseraError as exc:
        raise _fail(exc.message) from None
    finally:
        engine.dispose()
    _report(report)
    if not report.ok:
        raise _fail("the database did not verify")


def _restore_sqlite(settings: Settings, backup_file: Path, *, yes: bool) -> None:
    from tessera.backups.snapshot import (
        BackupError,
        integrity_problems,
        read_only_engine,
        restore_into,
        sqlite_path,
    )
    from tessera.clock import SystemClock

    if not backup_file.is_file():
        raise _fail(f"no backup at {backup_file}")
    try:
        problems = integrity_problems(backup_file)
    except Exception as exc:  # sqlite3 reports a non-database file in several ways
        raise _fail(f"{backup_file} is not an SQLite database: {type(exc).__name__}") from None
    if problems:
        raise _fail(f"{backup_file} failed its integrity check: {problems[:3]}")
    engine = read_only_engine(backup_file)
    try:
        problem = backup_revision_problem(engine)
    finally:
        engine.dispose()
    if problem is not None:
        raise _fail(f"cannot restore {backup_file}: {problem}", EXIT_REFUSED)
    # Nothing is touched unless every secret in the backup decrypts with the configured keys.
    _verify_file(settings, backup_file, what="backup")
    live = sqlite_path(settings.resolved_database_url)
    if not yes:
        typer.confirm(f"Replace the database at {live} with {backup_file}?", abort=True)
    try:
        saved = restore_into(
            backup_file, live, busy_timeout_ms=settings.sqlite_busy_timeout_ms, now=SystemClock().now()
        )
    except BackupError as exc:
        raise _fail(str(exc)) from None
    if saved is not None:
        print(f"the previous database was saved as {saved}")
    _verify_file(settings, live, what="restored database")
    print(f"restored {live}; start the servers (`tessera server` brings the schema up to date).")
