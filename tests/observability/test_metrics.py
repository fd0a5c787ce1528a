"""`/metrics`: off by default, token-protected, one registry per app, and what it counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tessera.app import create_app
from tessera.auth.azure.jwks import JwksCache
from tessera.clock import FrozenClock
from tessera.observability.metrics import Metrics
from tests.api.secrets_support import Secrets
from tests.conftest import BOOTSTRAP_BODY, CLIENT_ADDR, Admin, make_settings
from tests.factories_auth import bearer, ua_identity, ua_login
from tests.fakes.entra import SigningKey
from tests.observability.conftest import METRICS_TOKEN

SECRET_ROUTE = "/api/v3/secrets/raw/{secret_name}"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by (name, labels)."""
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


def scrape(client: TestClient) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    response = client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text, samples(response.text)


def _admin(client: TestClient) -> Admin:
    response = client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY)
    assert response.status_code == 200, response.text
    body = response.json()
    return Admin(
        token=body["identity"]["credentials"]["token"],
        org_id=body["organization"]["id"],
        identity_id=body["identity"]["id"],
        user_id=body["user"]["id"],
    )


# --- switched off, and protected ------------------------------------------------------------------


def test_metrics_are_off_by_default(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 404
    assert client.get("/metrics", headers=bearer(METRICS_TOKEN)).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param(bearer("wrong-token-0123456789abcdef"), id="wrong-token"),
        pytest.param(bearer(METRICS_TOKEN[:-1]), id="prefix-of-token"),
        pytest.param({"Authorization": f"Basic {METRICS_TOKEN}"}, id="wrong-scheme"),
        pytest.param({"Authorization": METRICS_TOKEN}, id="no-scheme"),
    ],
)
def test_metrics_need_the_token(metrics_client: TestClient, headers: dict[str, str]) -> None:
    response = metrics_client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "tessera_" not in response.text


@pytest.mark.parametrize("token", ["short", "changeme", " " * 20], ids=["short", "placeholder", "blank"])
def test_the_token_setting_refuses_weak_values(tmp_path: Path, token: str) -> None:
    with pytest.raises(ValueError, match="TESSERA_METRICS_TOKEN"):
        make_settings("sqlite://", tmp_path, metrics_token=token)


# --- content ------------------------------------------------------------------------------------


def test_logins_secret_reads_and_token_uses_are_counted(metrics_client: TestClient, metrics_app: Any) -> None:
    client = metrics_client
    admin = _admin(client)
    project_id = client.post(
        "/api/v2/workspace", json={"projectName": "Payments"}, headers=admin.headers
    ).json()["project"]["id"]
    Secrets(client, project_id, admin.headers).ok("DATABASE_URL", "postgres://db.internal/app")
    _, client_id, client_secret = ua_identity(client, metrics_app, admin)

    tokens = [ua_login(client, client_id, client_secret).json()["accessToken"] for _ in range(2)]
    assert ua_login(client, client_id, "0" * 64).status_code == 401
    reader = Secrets(client, project_id, bearer(tokens[0]))
    for _ in range(3):
        assert reader.get("DATABASE_URL").status_code == 200
    assert reader.get("NO_SUCH_SECRET").status_code == 404

    text, found = scrape(client)
    logins = "tessera_logins_total"
    assert value(found, logins, method="universal-auth", outcome="success", reason="ok") == 2
    assert (
        value(found, logins, method="universal-auth", outcome="failure", reason="invalid_client_secret") == 1
    )
    requests = "tessera_http_requests_total"
    assert value(found, requests, method="GET", route=SECRET_ROUTE, status="200") == 3
    assert value(found, requests, method="GET", route=SECRET_ROUTE, status="404") == 1
    assert value(found, requests, method="POST", route="/api/v1/auth/universal-auth/login", status="401") == 1
    duration = "tessera_http_request_duration_seconds_count"
    assert value(found, duration, method="GET", route=SECRET_ROUTE) == 4
    # Three uses of the identity's token: a request that fails keeps its use (nothing is
    # committed for it), and the admin's uses are counted under its own method.
    assert value(found, "tessera_token_uses_total", auth_method="universal-auth") == 3
    assert value(found, "tessera_db_pool_size") >= 1
    assert ("tessera_db_pool_checked_out", frozenset()) in found
    # Route templates only: no secret name, value or credential ever becomes a label.
    for needle in ("DATABASE_URL", "postgres://db.internal/app", client_secret, tokens[0], project_id):
        assert needle not in text


def test_rate_limited_requests_carry_their_route_template(
    db_url: str, tmp_path: Path, engine: Any, clock: FrozenClock
) -> None:
    """A 429 is answered before routing, yet is counted under its route like any other answer."""
    settings = make_settings(
        db_url,
        tmp_path / "data",
        metrics_token=METRICS_TOKEN,
        rate_limit_login_per_ip="2/3600",
        rate_limit_login_per_identity="off",
        rate_limit_secrets_per_ip="off",
        rate_limit_secrets_per_identity="2/3600",
    )
    app = create_app(settings, clock=clock, engine=engine)
    with TestClient(app, client=CLIENT_ADDR, raise_server_exceptions=False) as client:
        admin = _admin(client)
        project_id = client.post(
            "/api/v2/workspace", json={"projectName": "Payments"}, headers=admin.headers
        ).json()["project"]["id"]
        Secrets(client, project_id, admin.headers).ok("DATABASE_URL", "postgres://db.internal/app")
        _, client_id, client_secret = ua_identity(client, app, admin)
        token = ua_login(client, client_id, client_secret).json()["accessToken"]
        assert [ua_login(client, client_id, "0" * 64).status_code for _ in range(2)] == [401, 429]
        reader = Secrets(client, project_id, bearer(token))
        assert [reader.get("DATABASE_URL").status_code for _ in range(3)] == [200, 200, 429]
        _, found = scrape(client)
    requests = "tessera_http_requests_total"
    login_route = "/api/v1/auth/universal-auth/login"
    assert value(found, requests, method="POST", route=login_route, status="429") == 1
    assert value(found, requests, method="GET", route=SECRET_ROUTE, status="429") == 1
    assert value(found, requests, method="GET", route="unmatched", status="429") == 0
    assert value(found, requests, method="POST", route="unmatched", status="429") == 0


def test_unmatched_paths_share_one_label(metrics_client: TestClient) -> None:
    for path in ("/no/such/path", "/api/v3/secrets/raw/A/B/C", "/another"):
        assert metrics_client.get(path).status_code == 404
    text, found = scrape(metrics_client)
    assert value(found, "tessera_http_requests_total", method="GET", route="unmatched", status="404") == 3
    assert "/no/such/path" not in text


def test_each_app_has_its_own_registry(
    metrics_client: TestClient, client: TestClient, metrics_app: Any
) -> None:
    for _ in range(3):
        client.get("/api/status")  # the other app
    metrics_client.get("/api/status")
    _, found = scrape(metrics_client)
    assert value(found, "tessera_http_requests_total", method="GET", route="/api/status", status="200") == 1


def test_azure_login_counts_are_read_from_the_shared_counters(
    metrics_client: TestClient, metrics_app: Any
) -> None:
    from tessera.auth.azure.metrics import get_login_metrics
    from tessera.observability.metrics import metrics_of, record_login

    metrics_client.get("/api/status")  # the app's metrics exist from its first request on
    metrics = metrics_of(metrics_app.state.context.extras)
    assert metrics is not None
    record_login(metrics, "azure-auth", "failure", "audience_mismatch")
    record_login(metrics, "azure-auth", "success")
    record_login(metrics, "universal-auth", "success")
    snapshot = get_login_metrics(metrics_app.state.context).snapshot()
    assert snapshot == {"failure": {"audience_mismatch": 1}, "success": {"ok": 1}}


# --- the signing-key cache ------------------------------------------------------------------------


def test_jwks_fetches_and_cache_hits_are_counted() -> None:
    key = SigningKey.generate("kid-1")
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if "broken" in str(request.url):
            return httpx.Response(500)
        return httpx.Response(200, json={"keys": [key.jwk()]})

    metrics = Metrics()
    cache = JwksCache(httpx.Client(transport=httpx.MockTransport(handler)), FrozenClock(), metrics=metrics)
    for _ in range(3):
        assert "kid-1" in cache.get_keys("https://login.example", "tenant-a", "kid-1")
    with pytest.raises(Exception, match="unavailable"):
        cache.get_keys("https://login.example", "broken", "kid-1")
    cache.close()
    registry = metrics.registry
    assert registry.get_sample_value("tessera_jwks_lookups_total", {"result": "miss"}) == 2
    assert registry.get_sample_value("tessera_jwks_lookups_total", {"result": "hit"}) == 2
    assert registry.get_sample_value("tessera_jwks_fetches_total", {"outcome": "ok"}) == 1
    assert registry.get_sample_value("tessera_jwks_fetches_total", {"outcome": "error"}) == 1
    assert len(calls) == 2
