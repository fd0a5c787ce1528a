"""Entra ID slow: a tenant whose keys are cached keeps logging in at full speed while a fetch for
another tenant hangs, that new tenant gets a 503 within the fetch deadline (never a 500, never an
"allow"), and it logs in once Entra answers again.

Unreachable Entra, bad answers and the cache rules themselves are covered in
tests/unit/auth/azure/test_jwks.py and tests/api/test_azure_auth_routes.py; this adds the
end-to-end view over a real server with two tenants at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tessera.app import create_app
from tessera.auth.azure.jwks import EXTRAS_KEY, REFRESH_COOLDOWN, JwksCache
from tessera.clock import FrozenClock
from tests.conftest import Admin, make_settings
from tests.factories import make_identity
from tests.factories_auth import serve
from tests.fakes.entra import FakeEntra, SigningKey, token_claims

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

T1 = "72f988bf-86f1-41af-91ab-2d7cd011db47"
T2 = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
OID = "11111111-1111-4111-8111-111111111111"
FETCH_TIMEOUT = 0.5  # the production client uses 5 s; shortened so the test stays quick
ENTRA_DELAY = 3.0


@pytest.fixture
def entra() -> Iterator[FakeEntra]:
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture
def app_with_entra(db_url: str, tmp_path: Path, entra: FakeEntra, clock: FrozenClock, engine: Engine) -> Any:
    settings = make_settings(db_url, tmp_path / "data", azure_authority_host=entra.authority)
    app = create_app(settings, clock=clock, engine=engine)
    app.state.context.extras[EXTRAS_KEY] = JwksCache(httpx.Client(timeout=FETCH_TIMEOUT), clock)
    return app


def _identity(app: Any, admin: Admin, http: httpx.Client, tenant: str) -> str:
    context = app.state.context
    with context.session_factory.begin() as session:
        identity_id = str(make_identity(session, org_id=admin.org_id, now=context.clock.now()).id)
    body = {"tenantId": tenant, "allowedServicePrincipalIds": OID}
    response = http.post(
        f"/api/v1/auth/azure-auth/identities/{identity_id}", json=body, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return identity_id


def _login(
    http: httpx.Client, identity_id: str, key: SigningKey, tenant: str, clock: FrozenClock
) -> httpx.Response:
    token = key.sign(token_claims(tenant=tenant, oid=OID, now=clock.now()))
    return http.post("/api/v1/auth/azure-auth/login", json={"identityId": identity_id, "jwt": token})


def test_slow_entra_stalls_no_cached_tenant_and_new_tenants_get_503(
    app_with_entra: Any, entra: FakeEntra, clock: FrozenClock
) -> None:
    from tests.conftest import BOOTSTRAP_BODY

    key = entra.new_key()
    with serve(app_with_entra) as base, httpx.Client(base_url=base, timeout=30) as http:
        boot = http.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY).json()
        admin = Admin(
            token=boot["identity"]["credentials"]["token"],
            org_id=boot["organization"]["id"],
            identity_id=boot["identity"]["id"],
            user_id=boot["user"]["id"],
        )
        cached = _identity(app_with_entra, admin, http, T1)
        cold = _identity(app_with_entra, admin, http, T2)
        assert _login(http, cached, key, T1, clock).status_code == 200

        entra.delay = ENTRA_DELAY
        result: dict[str, Any] = {}

        def cold_login() -> None:
            started = time.monotonic()
            with httpx.Client(base_url=base, timeout=30) as other:
                result["response"] = _login(other, cold, key, T2, clock)
            result["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=cold_login)
        thread.start()
        while not entra.key_fetches(T2):  # wait until the slow fetch is under way (bounded below)
            assert thread.is_alive()
            time.sleep(0.01)
        cached_times = []
        for _ in range(5):
            started = time.monotonic()
            assert _login(http, cached, key, T1, clock).status_code == 200
            cached_times.append(time.monotonic() - started)
        thread.join(timeout=30)

        assert all(t < FETCH_TIMEOUT + 1.0 for t in cached_times), cached_times
        response = result["response"]
        assert response.status_code == 503
        assert (response.json()["statusCode"], response.json()["error"]) == (503, "ServiceUnavailable")
        assert result["seconds"] < ENTRA_DELAY  # answered by the deadline, not when Entra replied

        entra.delay = 0
        clock.advance(REFRESH_COOLDOWN.total_seconds())
        assert _login(http, cold, key, T2, clock).status_code == 200

    # Never waited on the other tenant's fetch. On SQLite this holds only because the login
    # fetches keys before its write transaction begins: a fetch inside it would hold the one
    # write lock, and every cached login (each one writes its token) would queue behind it.
    assert max(cached_times) < FETCH_TIMEOUT, cached_times
