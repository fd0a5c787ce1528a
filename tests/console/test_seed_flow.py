"""The seed's click-path through the console, then an Azure login through the API: the console
shows the identity's last login and its use count. (The same path in a real browser is in
test_browser.py; this one runs on SQLite and PostgreSQL.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.clock import FrozenClock
from tessera.settings import Settings
from tests.conftest import make_settings
from tests.console.conftest import MAX_FAILURES, create_identity
from tests.console.support import Console, field_errors, identity_id_from
from tests.fakes.entra import ARM, FakeEntra, SigningKey, token_claims

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PRINCIPAL = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
def entra() -> Iterator[FakeEntra]:
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, entra: FakeEntra) -> Settings:
    return make_settings(
        db_url,
        tmp_path / "data",
        azure_authority_host=entra.authority,
        console_login_max_failures=MAX_FAILURES,
    )


def azure_token(key: SigningKey, clock: FrozenClock, oid: str = PRINCIPAL) -> str:
    return key.sign(token_claims(tenant=TENANT, oid=oid, now=clock.now(), audience=ARM))


def test_seed_flow_then_the_console_shows_last_login_and_use_count(
    console: Console, client: TestClient, project_id: str, entra: FakeEntra, clock: FrozenClock, app: Any
) -> None:
    key = entra.new_key()
    # Organization Settings > Access Control > Identities > Create identity, with an org role.
    identity = identity_id_from(create_identity(console, name="azure-vm", role="member"))
    # Replace the default Universal Auth with Azure Auth.
    assert console.submit(f"/identities/{identity}/auth/universal-auth/remove").status_code == 303
    saved = console.submit(
        f"/identities/{identity}/auth/azure-auth",
        data={
            "tenantId": TENANT,
            "resource": ARM,
            "allowedServicePrincipalIds": PRINCIPAL,
            "accessTokenTTL": "2592000",
            "accessTokenMaxTTL": "2592000",
            "accessTokenNumUsesLimit": "0",
            "accessTokenTrustedIps": "0.0.0.0/0, ::/0",
            "cloud": "public",
        },
    )
    assert saved.status_code == 303, field_errors(saved)
    # Project > Access Control > Machine Identities > Add identity, with a project role.
    added = console.submit(
        f"/projects/{project_id}/access-control/identities/add",
        data={"identityId": identity, "role": "viewer"},
    )
    assert added.status_code == 303, field_errors(added)
    page = console.get(f"/identities/{identity}")
    assert re.search(r'id="last-login">—<', page.text)

    # The workload logs in with its managed-identity token and uses the access token twice.
    clock.advance(60)
    login = client.post(
        "/api/v1/auth/azure-auth/login", json={"identityId": identity, "jwt": azure_token(key, clock)}
    )
    assert login.status_code == 200, login.text
    bearer = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    for _ in range(2):
        listed = client.get(
            "/api/v3/secrets/raw", params={"workspaceId": project_id, "environment": "dev"}, headers=bearer
        )
        assert listed.status_code == 200, listed.text
    # A principal not on the allow-list is refused and shows up nowhere in the usage.
    refused = client.post(
        "/api/v1/auth/azure-auth/login",
        json={
            "identityId": identity,
            "jwt": azure_token(key, clock, oid="99999999-9999-4999-8999-999999999999"),
        },
    )
    assert refused.status_code == 401

    page = console.get(f"/identities/{identity}")
    assert re.search(r'id="last-login">\d{4}-\d\d-\d\d \d\d:\d\d UTC<', page.text)
    assert 'id="last-login-method">azure-auth<' in page.text
    assert 'id="login-count">1<' in page.text
    assert 'id="use-count">2<' in page.text
    assert "<td>2 (no limit)</td>" in page.text  # the token's own row counts them too, unflushed
    assert "<title>" in page.text
    assert 'class="bar"' in page.text
    listing = console.get(f"/projects/{project_id}/access-control/identities")
    assert "azure-vm" in listing.text
    assert "viewer" in listing.text
