from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tessera.app import create_app
from tessera.settings import Settings
from tessera.store.engine import make_engine
from tests.conftest import CLIENT_ADDR


def test_status_is_what_infisical_clients_probe(client: TestClient) -> None:
    response = client.get("/api/status")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Ok"
    assert body["date"].endswith("Z")


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(settings: Settings) -> None:
    dead: Engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app: Any = create_app(settings, engine=dead)
    with TestClient(app, client=CLIENT_ADDR) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "Tessera"
    assert client.get("/docs").status_code == 200


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-Id": "bad id\nwith newline"})
    assert generated.headers["x-request-id"].startswith("req-")
