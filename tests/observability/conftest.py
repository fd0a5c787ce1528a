"""Fixtures for the observability tests: an app with /metrics switched on, and a project secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tessera.app import create_app
from tessera.clock import FrozenClock
from tests.conftest import CLIENT_ADDR, make_settings

METRICS_TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def metrics_app(db_url: str, tmp_path: Path, engine: Engine, clock: FrozenClock) -> Any:
    settings = make_settings(db_url, tmp_path / "data", metrics_token=METRICS_TOKEN)
    return create_app(settings, clock=clock, engine=engine)


@pytest.fixture
def metrics_client(metrics_app: Any) -> Iterator[TestClient]:
    with TestClient(metrics_app, client=CLIENT_ADDR, raise_server_exceptions=False) as test_client:
        yield test_client
