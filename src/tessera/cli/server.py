"""Server start-up shared by `tessera server` and uvicorn's worker processes."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from tessera.app import create_app
from tessera.observability.logging import configure_logging
from tessera.settings import Settings
from tessera.store import migrate
from tessera.store.engine import make_engine

logger = logging.getLogger("tessera.server")


class NotMigrated(RuntimeError):
    pass


def prepare(settings: Settings) -> Settings:
    """Resolve keys and make sure the schema is current; the embedded default migrates itself."""
    settings = settings.ensure_keys()
    engine = make_engine(
        settings.resolved_database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    try:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            migrate.upgrade(engine)
        elif not migrate.is_up_to_date(engine):
            raise NotMigrated(
                "the database schema is not current; "
                "run `tessera db upgrade` (with the same TESSERA_DATABASE_URL)"
            )
    finally:
        engine.dispose()
    return settings


def app_factory() -> FastAPI:
    """Entry point for uvicorn workers: settings from the environment, keys from the data dir."""
    settings = Settings().ensure_keys()
    configure_logging(settings.log_level)  # JSON lines on stderr, one per request at INFO
    return create_app(settings)
