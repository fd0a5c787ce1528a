"""Access-token lifecycle over HTTP: renew, revoke, revoke-all, introspection, uses, addresses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tessera.app import create_app
from tessera.clock import FrozenClock
from tests.conftest import TEST_AUTH_SECRET, TEST_ROOT_KEY, Admin, make_settings
from tests.factories_auth import (
    LOGIN_KEYS,
    TOKEN_AUTH,
    all_at_once,
    bearer,
    client_at,
    create_identity,
    create_org,
    serve,
    token_auth_token,
    token_row,
    use_token,
)

# Bootstrapping an admin hashes a password; these tests are about tokens, not hashing.
pytestmark = pytest.mark.usefixtures("fast_passwords")

RENEW = "/api/v1/auth/token/renew"
REVOKE = "/api/v1/auth/token/revoke"


# --- renew ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["json", "form", "trailing-slash"])
def test_renew_returns_the_login_response(client: TestClient, app: Any, admin: Admin, shape: str) -> None:
    identity_id, token, _ = token_auth_token(client, app, admin, accessTokenTTL=60, accessTokenMaxTTL=600)
    if shape == "json":
        response = client.post(RENEW, json={"accessToken": token})
    elif shape == "form":
        response = client.post(RENEW, data={"accessToken": token})
    else:
        response = client.post(RENEW + "/", json={"accessToken": f"  {token} "})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == LOGIN_KEYS
    assert (body["expiresIn"], body["accessTokenMaxTTL"], body["tokenType"]) == (60, 600, "Bearer")
    assert use_token(client, body["accessToken"], identity_id).status_code == 200


def test_renew_restarts_the_ttl_but_never_passes_the_max_ttl(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    identity_id, token, token_id = token_auth_token(
        client, app, admin, accessTokenTTL=10, accessTokenMaxTTL=30
    )
    clock.advance(5)
    renewed = client.post(RENEW, json={"accessToken": token})
    assert renewed.status_code == 200
    token = renewed.json()["accessToken"]
    clock.advance(9)  # t=14: past the first window (t=10), inside the renewed one (t=15)
    assert use_token(client, token, identity_id).status_code == 200
    renewed = client.post(RENEW, json={"accessToken": token})  # to t=24, within the max (t=30)
    assert renewed.status_code == 200
    token = renewed.json()["accessToken"]
    row = token_row(app, token_id)
    assert row.expires_at is not None
    assert row.max_expires_at is not None
    assert row.expires_at <= row.max_expires_at

    clock.advance(7)  # t=21: a renew would end at t=31, past the max: refused, and the token is gone
    past = client.post(RENEW, json={"accessToken": token})
    assert past.status_code == 401
    assert past.json()["message"] == "Failed to renew MI access token past its Max TTL expiration"
    assert token_row(app, token_id).is_revoked is True
    assert use_token(client, token, identity_id).status_code == 401
    assert client.post(RENEW, json={"accessToken": token}).status_code == 401


def test_renew_after_the_ttl_lapsed_is_refused(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    _, token, _ = token_auth_token(client, app, admin, accessTokenTTL=10, accessTokenMaxTTL=30)
    clock.advance(11)
    response = client.post(RENEW, json={"accessToken": token})
    assert response.status_code == 403  # the JWT's exp has passed: TokenError
    assert response.json()["error"] == "TokenError"


@pytest.mark.parametrize(
    "value",
    ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJ4IjoxfQ."],
    ids=["empty", "garbage", "dots", "alg-none"],
)
def test_renew_and_revoke_reject_garbage(client: TestClient, value: str) -> None:
    for route in (RENEW, REVOKE):
        response = client.post(route, json={"accessToken": value})
        assert response.status_code in {403, 422}, response.text
        assert response.status_code != 500


def test_renew_does_not_count_as_a_use(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin, accessTokenNumUsesLimit=1)
    token = client.post(RENEW, json={"accessToken": token}).json()["accessToken"]
    assert token_row(app, token_id).num_uses == 0
    assert use_token(client, token, identity_id).status_code == 200
    assert use_token(client, token, identity_id).status_code == 401


# --- revoke ---------------------------------------------------------------------------------------


def test_revoke_needs_no_auth_header_and_sticks(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin)
    response = client.post(REVOKE, data={"accessToken": token})
    assert response.json() == {"message": "Successfully revoked access token"}
    assert use_token(client, token, identity_id).status_code == 401
    assert client.post(REVOKE, json={"accessToken": token}).status_code == 401
    assert client.post(RENEW, json={"accessToken": token}).status_code == 401
    assert token_row(app, token_id).is_revoked is True


def test_revoke_all_bumps_the_version(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, first, _ = token_auth_token(client, app, admin)
    second = client.post(
        f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={}, headers=admin.headers
    ).json()
    response = client.post(
        "/api/v1/auth/token/revoke-all", json={"identityId": identity_id}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.json()["revokedCount"] == 2
    for token in (first, second["accessToken"]):
        assert use_token(client, token, identity_id).status_code == 401
    fresh = client.post(
        f"{TOKEN_AUTH}/identities/{identity_id}/tokens", json={}, headers=admin.headers
    ).json()
    assert use_token(client, fresh["accessToken"], identity_id).status_code == 200


def test_revoke_all_needs_permission(client: TestClient, app: Any, admin: Admin) -> None:
    _, weak, _ = token_auth_token(
        client, app, admin, identity_id=create_identity(app, admin.org_id, role="no-access")
    )
    target, target_token, _ = token_auth_token(client, app, admin)
    response = client.post("/api/v1/auth/token/revoke-all", json={"identityId": target}, headers=bearer(weak))
    assert response.status_code == 403
    assert use_token(client, target_token, target).status_code == 200


# --- admin views ----------------------------------------------------------------------------------


def test_introspection_describes_without_echoing(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    identity_id, token, token_id = token_auth_token(
        client, app, admin, accessTokenTTL=60, accessTokenMaxTTL=120, accessTokenNumUsesLimit=4
    )
    assert use_token(client, token, identity_id).status_code == 200
    response = client.post(
        "/api/v1/auth/token/introspect", json={"accessToken": token}, headers=admin.headers
    )
    assert response.status_code == 200
    assert token not in response.text
    view = response.json()["token"]
    assert view["tokenId"] == token_id
    assert (view["identityId"], view["identityName"], view["authMethod"]) == (
        identity_id,
        "machine",
        "token-auth",
    )
    assert (view["numUses"], view["numUsesLimit"], view["revoked"], view["active"]) == (1, 4, False, True)
    for field in ("createdAt", "expiresAt", "maxExpiresAt", "lastUsedAt"):
        assert view[field], field

    clock.advance(61)  # expired tokens can still be described
    later = client.post("/api/v1/auth/token/introspect", json={"accessToken": token}, headers=admin.headers)
    assert later.json()["token"]["active"] is False


def test_introspection_is_for_admins_of_the_same_org(client: TestClient, app: Any, admin: Admin) -> None:
    _, weak, _ = token_auth_token(
        client, app, admin, identity_id=create_identity(app, admin.org_id, role="no-access")
    )
    response = client.post(
        "/api/v1/auth/token/introspect", json={"accessToken": admin.token}, headers=bearer(weak)
    )
    assert response.status_code == 403

    org_id = create_org(app)
    foreign_admin = create_identity(app, org_id)
    foreign_token = _mint_directly(client, app, admin, foreign_admin)
    response = client.post(
        "/api/v1/auth/token/introspect", json={"accessToken": foreign_token}, headers=admin.headers
    )
    assert response.status_code == 404


def _mint_directly(client: TestClient, app: Any, admin: Admin, identity_id: str) -> str:
    """A token for an identity the admin cannot manage (another org), through the minting function."""
    from tessera.audit.service import RequestContext
    from tessera.auth.login import issue_access_token
    from tessera.auth.policy import TokenPolicy
    from tessera.identities.models import Identity
    from tests.factories_auth import session_of

    with session_of(app) as session, session.begin():
        identity = session.get(Identity, identity_id)
        assert identity is not None
        result = issue_access_token(
            session,
            identity=identity,
            method="token-auth",
            policy=TokenPolicy(ttl=0, max_ttl=0),
            now=app.state.context.clock.now(),
            signing_secret=app.state.context.signing_secret,
            ctx=RequestContext(client_ip="127.0.0.1"),
        )
        return result.access_token


def test_list_identity_tokens_and_admin_revoke(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin)
    listing = client.get(f"/api/v1/identities/{identity_id}/tokens", headers=admin.headers)
    assert [t["tokenId"] for t in listing.json()["tokens"]] == [token_id]
    assert token not in listing.text

    _, member, _ = token_auth_token(
        client, app, admin, identity_id=create_identity(app, admin.org_id, role="member")
    )
    refused = client.post(f"/api/v1/auth/token/{token_id}/revoke", headers=bearer(member))
    assert refused.status_code == 403
    assert use_token(client, token, identity_id).status_code == 200

    revoked = client.post(f"/api/v1/auth/token/{token_id}/revoke", headers=admin.headers)
    assert revoked.status_code == 200
    assert use_token(client, token, identity_id).status_code == 401
    assert client.get(f"/api/v1/identities/{identity_id}/tokens", headers=admin.headers).json() == {
        "tokens": []
    }


# --- uses and addresses -----------------------------------------------------------------------------


def test_rejected_requests_consume_nothing(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(
        client, app, admin, accessTokenNumUsesLimit=3, accessTokenTrustedIps=[{"ipAddress": "10.1.2.3/32"}]
    )
    outside = client_at(app, "10.1.2.4")
    for _ in range(5):
        response = use_token(outside, token, identity_id)
        assert response.status_code == 403
    assert token_row(app, token_id).num_uses == 0
    inside = client_at(app, "10.1.2.3")
    assert [use_token(inside, token, identity_id).status_code for _ in range(4)] == [200, 200, 200, 401]
    assert token_row(app, token_id).num_uses == 3


def test_a_request_denied_by_permissions_consumes_nothing(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id = create_identity(app, admin.org_id, role="no-access")
    _, token, token_id = token_auth_token(
        client, app, admin, identity_id=identity_id, accessTokenNumUsesLimit=2
    )
    assert use_token(client, token, identity_id).status_code == 403
    assert token_row(app, token_id).num_uses == 0


def test_spoofed_forwarded_for_is_ignored(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, _ = token_auth_token(
        client, app, admin, accessTokenTrustedIps=[{"ipAddress": "10.1.2.3/32"}]
    )
    spoofer = client_at(app, "10.9.9.9")
    for header in ("X-Forwarded-For", "X-Real-IP", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP"):
        assert use_token(spoofer, token, identity_id, headers={header: "10.1.2.3"}).status_code == 403


def test_forwarded_for_from_a_trusted_proxy(
    tmp_path: Path, db_url: str, engine: Engine, clock: FrozenClock
) -> None:
    settings = make_settings(db_url, tmp_path / "data", trusted_proxies=["10.0.0.9/32"])
    app: Any = create_app(settings, clock=clock, engine=engine)
    with TestClient(app, client=("10.0.0.9", 1234), raise_server_exceptions=False) as proxy:
        boot = proxy.post(
            "/api/v1/admin/bootstrap",
            json={"email": "a@example.com", "password": "correct horse battery", "organization": "Acme"},
        ).json()
        admin = Admin(
            boot["identity"]["credentials"]["token"], boot["organization"]["id"], boot["identity"]["id"], ""
        )
        identity_id, token, _ = token_auth_token(
            proxy, app, admin, accessTokenTrustedIps=[{"ipAddress": "192.0.2.7/32"}]
        )
        assert (
            use_token(proxy, token, identity_id, headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 200
        )
        assert use_token(proxy, token, identity_id).status_code == 403  # the proxy itself is not trusted
        prepended = {"X-Forwarded-For": "192.0.2.7, 198.51.100.1"}
        assert use_token(proxy, token, identity_id, headers=prepended).status_code == 403
    direct = client_at(app, "10.0.0.10")
    assert use_token(direct, token, identity_id, headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 403


def test_expired_identity_tokens_stop_working(
    client: TestClient, app: Any, admin: Admin, clock: FrozenClock
) -> None:
    from datetime import timedelta

    from tests.factories_auth import update_identity

    identity_id, token, _ = token_auth_token(client, app, admin)
    update_identity(app, identity_id, expires_at=clock.now() + timedelta(seconds=30))
    assert use_token(client, token, identity_id).status_code == 200
    clock.advance(31)
    assert use_token(client, token, identity_id).status_code == 401


@pytest.mark.slow
def test_use_limit_is_exact_under_50_concurrent_requests(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = token_auth_token(client, app, admin, accessTokenNumUsesLimit=7)
    path = f"/api/v1/identities/{identity_id}/tokens"
    with (
        serve(app) as base,
        httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=60)) as http,
    ):
        responses = all_at_once(50, lambda _i: http.get(path, headers=bearer(token)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [401] * 43
    assert token_row(app, token_id).num_uses == 7


# --- two server processes on one database ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(db_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": db_url,
        "TESSERA_AUTH_SECRET": TEST_AUTH_SECRET,
        "TESSERA_ROOT_KEY": TEST_ROOT_KEY,
        "TESSERA_DATA_DIR": str(data_dir),
    }
    command = [sys.executable, "-m", "uvicorn", "tessera.cli.server:app_factory", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return process, f"http://127.0.0.1:{port}"


def _wait_until_up(process: subprocess.Popen[bytes], base: str, deadline: float) -> None:
    while True:  # waiting for start-up, not for time-based logic
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "server exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server process did not start"
        time.sleep(0.1)


@contextmanager
def _server_processes(db_url: str, tmp_path: Path, count: int) -> Iterator[list[str]]:
    """`count` real server processes on one database, started in parallel."""
    started = [_start_server(db_url, tmp_path / f"server{i}") for i in range(count)]
    try:
        deadline = time.monotonic() + 45  # generous: imports are slow on a loaded machine
        for process, base in started:
            _wait_until_up(process, base, deadline)
        yield [base for _, base in started]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr:
                process.stderr.close()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_revoke_sticks_across_two_server_processes(db_url: str, tmp_path: Path) -> None:
    with _server_processes(db_url, tmp_path, 2) as (first, second):
        boot = httpx.post(
            f"{first}/api/v1/admin/bootstrap",
            json={"email": "a@example.com", "password": "correct horse battery", "organization": "Acme"},
            timeout=30,
        ).json()
        token = boot["identity"]["credentials"]["token"]
        probe = f"/api/v1/identities/{boot['identity']['id']}/tokens"
        assert httpx.get(second + probe, headers=bearer(token), timeout=30).status_code == 200

        revoked = httpx.post(f"{first}/api/v1/auth/token/revoke", json={"accessToken": token}, timeout=30)
        assert revoked.status_code == 200
        assert httpx.get(second + probe, headers=bearer(token), timeout=30).status_code == 401
        assert httpx.get(first + probe, headers=bearer(token), timeout=30).status_code == 401
