"""The SDK against the real server under uvicorn on 127.0.0.1 (SQLite and PostgreSQL).

Set-up goes over HTTP like an operator would: bootstrap → identity → Universal Auth → client
secret → project membership. Then the SDK logs in and works with secrets, folders and tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tessera_sdk import (
    AuthenticationError,
    Client,
    NotFoundError,
    PermissionDeniedError,
    RefreshTokenAuth,
    TesseraError,
    UniversalAuth,
    ValidationError,
)
from tests.conftest import BOOTSTRAP_BODY
from tests.factories_auth import serve
from tests.sdk.fakes import FrozenClock

UA = "/api/v1/auth/universal-auth"


class Operator:
    """The administrator's side, over plain HTTP."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        boot = self.call("POST", "/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY)
        self.org_id = boot["organization"]["id"]
        self.http.headers["Authorization"] = f"Bearer {boot['identity']['credentials']['token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def ua_identity(self, name: str, **policy: Any) -> tuple[str, str, str]:
        body = {"name": name, "organizationId": self.org_id, "role": "no-access"}
        identity_id = self.call("POST", "/api/v1/identities", json=body)["identity"]["id"]
        attached = self.call("POST", f"{UA}/identities/{identity_id}", json=policy)
        client_id = attached["identityUniversalAuth"]["clientId"]
        secret = self.call("POST", f"{UA}/identities/{identity_id}/client-secrets", json={})["clientSecret"]
        return identity_id, client_id, secret

    def project(self, name: str, member: str | None = None, role: str = "admin") -> str:
        project_id: str = self.call("POST", "/api/v2/workspace", json={"projectName": name})["project"]["id"]
        if member:
            path = f"/api/v1/projects/{project_id}/memberships/identities/{member}"
            self.call("POST", path, json={"role": role})
        return project_id


@pytest.fixture
def live(app: Any, fast_passwords: None) -> Iterator[tuple[str, Operator]]:
    with serve(app) as url:
        operator = Operator(url)
        try:
            yield url, operator
        finally:
            operator.http.close()


def test_universal_auth_login_and_secrets(live: tuple[str, Operator]) -> None:
    url, operator = live
    identity_id, client_id, client_secret = operator.ua_identity("sdk-worker")
    project = operator.project("Live", member=identity_id)
    with Client(url, auth=UniversalAuth(client_id, client_secret)) as client:
        created = client.secrets.create("DB_URL", "postgres://db/app", project, "dev", comment="primary")
        assert (created.key, created.value, created.comment) == ("DB_URL", "postgres://db/app", "primary")
        client.secrets.create("API_KEY", "k-1", project, "dev")
        listing = client.secrets.list(project, "dev")
        assert listing.as_dict() == {"API_KEY": "k-1", "DB_URL": "postgres://db/app"}

        updated = client.secrets.update("API_KEY", project, "dev", value="k-2")
        assert updated.value == "k-2"
        assert client.secrets.get("API_KEY", project, "dev").value == "k-2"
        with pytest.raises(ValidationError):
            client.secrets.create("API_KEY", "again", project, "dev")

        client.secrets.delete("API_KEY", project, "dev")
        with pytest.raises(NotFoundError):
            client.secrets.get("API_KEY", project, "dev")

        folder = client.folders.create("app", project, "dev")
        assert folder.name == "app"
        client.secrets.create("NESTED", "n", project, "dev", "/app")
        assert [f.name for f in client.folders.list(project, "dev")] == ["app"]
        assert client.secrets.list(project, "dev", "/app").as_dict() == {"NESTED": "n"}


def test_etag_polling_against_the_server(live: tuple[str, Operator]) -> None:
    url, operator = live
    identity_id, client_id, client_secret = operator.ua_identity("poller")
    project = operator.project("Polled", member=identity_id)
    with Client(url, auth=UniversalAuth(client_id, client_secret)) as client:
        client.secrets.create("A", "1", project, "prod")
        first = client.secrets.list(project, "prod")
        again = client.secrets.list(project, "prod", if_none_match=first.etag)
        if first.etag is None:
            pytest.skip("the server sends no ETag on secret lists")
        assert again.not_modified
        client.secrets.update("A", project, "prod", value="2")
        changed = client.secrets.list(project, "prod", if_none_match=first.etag)
        assert not changed.not_modified
        assert changed.as_dict() == {"A": "2"}


def test_renewal_revocation_and_relogin(live: tuple[str, Operator]) -> None:
    url, operator = live
    identity_id, client_id, client_secret = operator.ua_identity(
        "renewer", accessTokenTTL=600, accessTokenMaxTTL=3600
    )
    project = operator.project("Renew", member=identity_id)
    clock = FrozenClock(1_900_000_000.0)  # the SDK's clock; the server keeps its own
    with Client(url, auth=UniversalAuth(client_id, client_secret), clock=clock) as client:
        client.secrets.list(project, "dev")
        first = client.tokens.state
        assert first is not None
        assert (first.expires_in, first.max_expires_at) == (600, clock() + 3600)
        clock.advance(590)  # inside the renewal margin: the next call renews
        client.secrets.list(project, "dev")
        renewed = client.tokens.state
        assert renewed is not None
        assert renewed.obtained_at == clock()
        assert renewed.max_expires_at == first.max_expires_at

        client.revoke()  # the server now refuses the token; the client logs in again by itself
        client.secrets.list(project, "dev")
        assert client.tokens.state is not None
        assert client.tokens.state.access_token != renewed.access_token


def test_errors_from_the_server(live: tuple[str, Operator]) -> None:
    url, operator = live
    _, client_id, client_secret = operator.ua_identity("outsider")
    elsewhere = operator.project("Not Mine")
    wrong = Client(url, auth=UniversalAuth(client_id, "0" * 64))
    with wrong, pytest.raises(AuthenticationError) as bad:
        wrong.secrets.list(elsewhere, "dev")
    assert bad.value.status == 401
    assert bad.value.request_id
    right = Client(url, auth=UniversalAuth(client_id, client_secret))
    with right, pytest.raises(TesseraError) as denied:
        right.secrets.list(elsewhere, "dev")
    assert isinstance(denied.value, PermissionDeniedError | NotFoundError)


def test_kms_round_trip(live: tuple[str, Operator]) -> None:
    url, operator = live
    identity_id, client_id, client_secret = operator.ua_identity("crypto")
    project = operator.project("Keys", member=identity_id)
    with Client(url, auth=UniversalAuth(client_id, client_secret)) as client:
        key = client.kms.create_key("app-key", project)
        ciphertext = client.kms.encrypt(key.id, b"\x00payload\xff")
        assert client.kms.decrypt(key.id, ciphertext) == b"\x00payload\xff"
        assert [k.name for k in client.kms.list_keys(project)] == ["app-key"]


def test_refresh_token_credential(live: tuple[str, Operator]) -> None:
    url, operator = live
    body = {"name": "refresher", "organizationId": operator.org_id, "role": "no-access"}
    identity_id = operator.call("POST", "/api/v1/identities", json=body)["identity"]["id"]
    created = operator.call(
        "POST",
        f"/api/v1/auth/refresh-token-auth/identities/{identity_id}",
        json={"refreshTokenRotationEnabled": True},
    )
    refresh_token = next(v for k, v in created.items() if k == "refreshToken")
    project = operator.project("Refresh", member=identity_id)
    rotated: list[str] = []
    with Client(url, auth=RefreshTokenAuth(refresh_token, on_rotate=rotated.append)) as client:
        client.secrets.create("K", "v", project, "dev")
        assert client.secrets.list(project, "dev").as_dict() == {"K": "v"}
    assert len(rotated) == 1
    assert rotated[0] != refresh_token
