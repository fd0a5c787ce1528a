"""Catalogue §2.8, SSRF through configurable URLs (SS-1, SS-2), on both databases.

Tessera's only outbound call is the Azure Auth key fetch, and its base URL is server settings
only (one per Azure cloud). Identity-level configuration cannot name a host: the tenant is a
GUID and the cloud an enumerated name. These tests prove both, and that redirects are never
followed, with loopback listeners standing in for "internal" targets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.settings import Settings
from tests.conftest import Admin, make_settings
from tests.factories_auth import create_identity
from tests.fakes.entra import FakeEntra
from tests.security.test_azure_auth import attach, claims

LOGIN = "/api/v1/auth/azure-auth/login"


@pytest.fixture(scope="module")
def internal() -> Iterator[FakeEntra]:
    """Stands for an internal service (metadata endpoint, admin listener): it must see no request."""
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def redirector(internal: FakeEntra) -> Iterator[str]:
    """An "allowed" authority that answers every request with a 302 to the internal listener."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"{internal.authority}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def entra() -> Iterator[FakeEntra]:
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, entra: FakeEntra, redirector: str) -> Settings:
    # The public cloud goes to the stand-in; the China cloud's authority redirects inwards.
    return make_settings(
        db_url, tmp_path / "data", azure_authority_host=entra.authority, azure_china_authority_host=redirector
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1",
        "http://169.254.169.254/",
        "http://[::1]",
        "http://0.0.0.0",
        "http://2130706433",
        "http://0x7f.1",
        "http://10.0.0.1",
    ],
)
def test_ss_1_identity_config_cannot_name_a_host(
    client: TestClient, app: Any, admin: Admin, entra: FakeEntra, internal: FakeEntra, url: str
) -> None:
    internal.reset_counts()
    entra.keys.clear()
    key = entra.new_key(kid="k1")
    identity_id = create_identity(app, admin.org_id)
    target = f"{internal.authority}" if url == "http://127.0.0.1" else url
    # Fields that would point the key fetch elsewhere do not exist: they are ignored...
    ignored = attach(client, admin, identity_id, authority=target, jwksUri=target, issuerUrl=target)
    assert ignored.status_code == 200, ignored.text
    assert target not in ignored.text
    # ...and the ones that do exist are not URLs.
    other = create_identity(app, admin.org_id)
    assert attach(client, admin, other, tenantId=target).status_code == 422
    assert attach(client, admin, other, cloud=target).status_code == 422
    response = client.post(
        LOGIN, json={"identityId": identity_id, "jwt": key.sign(claims(app.state.context.clock))}
    )
    assert response.status_code == 200
    assert internal.requests == []
    assert entra.key_fetches() >= 1


def test_ss_2_redirects_to_internal_addresses_are_not_followed(
    client: TestClient, app: Any, admin: Admin, entra: FakeEntra, internal: FakeEntra
) -> None:
    internal.reset_counts()
    key = entra.new_key(kid="k-china")
    identity_id = create_identity(app, admin.org_id)
    assert attach(client, admin, identity_id, cloud="china").status_code == 200
    china = claims(
        app.state.context.clock, iss="https://sts.chinacloudapi.cn/72f988bf-86f1-41af-91ab-2d7cd011db47/"
    )
    response = client.post(LOGIN, json={"identityId": identity_id, "jwt": key.sign(china)})
    assert response.status_code == 503  # the authority misbehaved: fail closed, retryable
    assert internal.requests == []
