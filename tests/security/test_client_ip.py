"""Catalogue §2.4, trusted IPs, IPv6 and X-Forwarded-For (IP-1 … IP-12), on SQLite and PostgreSQL.

The client address is the ASGI peer address (TestClient's `client=`), which is what uvicorn fills
from the socket; so 127.0.0.2 / 127.0.0.3 / fd00::2 / ::ffff:… peers need no extra interfaces.
A token's trusted IPs are checked on every request; X-Forwarded-For counts only when the peer is
a configured trusted proxy (TESSERA_TRUSTED_PROXIES), walked right to left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tessera.app import create_app
from tessera.auth.token.models import IdentityTokenAuth
from tests.conftest import Admin, make_settings
from tests.factories_auth import (
    TOKEN_AUTH,
    audit_ids,
    client_at,
    new_failures,
    session_of,
    token_auth_token,
    token_row,
    ua_identity,
    ua_login,
    use_token,
)

TRUSTED = [{"ipAddress": "127.0.0.2/32"}]
PROXY = "127.0.0.9"


def trusted_token(
    client: TestClient, app: Any, admin: Admin, ips: list[dict[str, str]] | None = None
) -> tuple[str, str, str]:
    return token_auth_token(
        client, app, admin, accessTokenTrustedIps=ips or TRUSTED, accessTokenNumUsesLimit=100
    )


@pytest.fixture
def proxied(settings: Any, engine: Engine, clock: Any, tmp_path: Path) -> Any:
    """The same database behind a server that trusts the reverse proxy at 127.0.0.9."""
    proxy_settings = make_settings(settings.database_url, tmp_path / "proxy", trusted_proxies=[f"{PROXY}/32"])
    return create_app(proxy_settings, clock=clock, engine=engine)


def test_ip_1_ipv4_outside_the_trusted_range(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, token_id = trusted_token(client, app, admin)
    response = use_token(client_at(app, "127.0.0.3"), token, identity_id)
    assert response.status_code == 403
    assert token_row(app, token_id).num_uses == 0
    assert use_token(client_at(app, "127.0.0.2"), token, identity_id).status_code == 200


def test_ip_2_ipv6_outside_then_inside(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, _ = trusted_token(client, app, admin, [{"ipAddress": "fd00::2/128"}])
    assert use_token(client_at(app, "fd00::3"), token, identity_id).status_code == 403
    assert use_token(client_at(app, "fd00::2"), token, identity_id).status_code == 200
    assert (
        use_token(client_at(app, "127.0.0.2"), token, identity_id).status_code == 403
    )  # v4 never matches v6


def test_ip_3_ipv4_mapped_ipv6_is_normalised_before_matching(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id, token, _ = trusted_token(client, app, admin)
    assert use_token(client_at(app, "::ffff:127.0.0.3"), token, identity_id).status_code == 403
    assert use_token(client_at(app, "::ffff:127.0.0.2"), token, identity_id).status_code == 200


def test_ip_4_forwarded_for_spoof_without_a_trusted_proxy(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, _ = trusted_token(client, app, admin)
    spoof = {"X-Forwarded-For": "127.0.0.2"}
    assert use_token(client_at(app, "127.0.0.3"), token, identity_id, headers=spoof).status_code == 403
    # The audit log records the socket address, not the claimed one.
    _, client_id, secret = ua_identity(client, app, admin, clientSecretTrustedIps=TRUSTED)
    seen = audit_ids(app)
    assert ua_login(client_at(app, "127.0.0.3"), client_id, secret, headers=spoof).status_code == 401
    assert [event.ip for event in new_failures(app, seen)] == ["127.0.0.3"]


@pytest.mark.parametrize(
    "header",
    ["X-Real-IP", "Forwarded", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP", "X-Cluster-Client-IP"],
)
def test_ip_5_other_client_ip_headers_are_ignored(
    client: TestClient, app: Any, admin: Admin, header: str
) -> None:
    identity_id, token, _ = trusted_token(client, app, admin)
    value = "for=127.0.0.2" if header == "Forwarded" else "127.0.0.2"
    response = use_token(client_at(app, "127.0.0.3"), token, identity_id, headers={header: value})
    assert response.status_code == 403


def test_ip_6_forwarded_for_from_a_trusted_proxy(
    client: TestClient, app: Any, admin: Admin, proxied: Any
) -> None:
    identity_id, token, _ = trusted_token(client, app, admin)
    proxy = client_at(proxied, PROXY)
    assert use_token(proxy, token, identity_id, headers={"X-Forwarded-For": "127.0.0.2"}).status_code == 200
    assert use_token(proxy, token, identity_id).status_code == 403  # the proxy itself is not trusted


def test_ip_7_client_prepended_hop_is_not_believed(
    client: TestClient, app: Any, admin: Admin, proxied: Any
) -> None:
    identity_id, token, _ = trusted_token(client, app, admin)
    proxy = client_at(proxied, PROXY)
    headers = {"X-Forwarded-For": "127.0.0.2, 127.0.0.3"}  # "127.0.0.2" was written by the client
    assert use_token(proxy, token, identity_id, headers=headers).status_code == 403


@pytest.mark.parametrize(
    "forwarded",
    ["unknown", "127.0.0.2:443", "[fd00::2]", ", ".join(["10.9.9.9"] * 5000), "", " , ,"],
    ids=["unknown", "with-port", "bracketed-v6", "5000-hops", "empty", "only-commas"],
)
def test_ip_8_malformed_forwarded_for_from_the_proxy(
    client: TestClient, app: Any, admin: Admin, proxied: Any, forwarded: str
) -> None:
    """Documented rule: a hop that is not an address means the socket peer (the proxy) is the client."""
    identity_id, token, _ = trusted_token(client, app, admin)
    response = use_token(
        client_at(proxied, PROXY), token, identity_id, headers={"X-Forwarded-For": forwarded}
    )
    assert response.status_code == 403, response.text


def test_ip_9_login_address_and_token_address_are_checked_separately(
    client: TestClient, app: Any, admin: Admin
) -> None:
    identity_id, client_id, secret = ua_identity(client, app, admin, accessTokenTrustedIps=TRUSTED)
    login = ua_login(client_at(app, "127.0.0.2"), client_id, secret)
    assert login.status_code == 200
    token = login.json()["accessToken"]
    assert use_token(client_at(app, "127.0.0.3"), token, identity_id).status_code == 403
    assert use_token(client_at(app, "127.0.0.2"), token, identity_id).status_code == 200


def test_ip_10_trusted_ip_change_applies_to_old_tokens(client: TestClient, app: Any, admin: Admin) -> None:
    identity_id, token, _ = trusted_token(
        client, app, admin, [{"ipAddress": "0.0.0.0/0"}, {"ipAddress": "::/0"}]
    )
    outside = client_at(app, "127.0.0.3")
    assert use_token(outside, token, identity_id).status_code == 200
    narrowed = client.patch(
        f"{TOKEN_AUTH}/identities/{identity_id}",
        json={"accessTokenTrustedIps": TRUSTED},
        headers=admin.headers,
    )
    assert narrowed.status_code == 200
    assert use_token(outside, token, identity_id).status_code == 403


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("10.0.0.0/33", None),
        ("::/129", None),
        ("", None),
        ("*", None),
        ("10.0.0.0/8/8", None),
        ("localhost", None),
        (
            "10.0.0.1/8",
            {"ipAddress": "10.0.0.0", "type": "ipv4", "prefix": 8},
        ),  # documented: host bits cleared
        ("127.0.0.1 ", {"ipAddress": "127.0.0.1", "type": "ipv4"}),  # documented: trimmed
    ],
    ids=[
        "v4-prefix-33",
        "v6-prefix-129",
        "empty",
        "star",
        "double-prefix",
        "hostname",
        "host-bits",
        "trailing-space",
    ],
)
def test_ip_11_cidr_configuration_validation(
    client: TestClient, app: Any, admin: Admin, value: str, stored: dict[str, Any] | None
) -> None:
    from tests.factories_auth import create_identity

    identity_id = create_identity(app, admin.org_id)
    response = client.post(
        f"{TOKEN_AUTH}/identities/{identity_id}",
        json={"accessTokenTrustedIps": [{"ipAddress": value}]},
        headers=admin.headers,
    )
    with session_of(app) as session:
        config = session.query(IdentityTokenAuth).filter_by(identity_id=identity_id).one_or_none()
        saved = list(config.access_token_trusted_ips) if config is not None else None
    if stored is None:
        assert response.status_code == 422, response.text
        assert saved is None
    else:
        assert response.status_code == 200, response.text
        assert saved == [stored]  # exactly the normalised entry, never an allow-all


def test_ip_12_rejected_peers_do_not_take_the_listener_down(
    client: TestClient, app: Any, admin: Admin
) -> None:
    """CVE-2024-6468: a stream of refused addresses leaves the server serving everyone else."""
    identity_id, token, token_id = trusted_token(client, app, admin)
    outside = client_at(app, "127.0.0.3")
    for _ in range(300):
        assert use_token(outside, token, identity_id).status_code == 403
    assert use_token(client_at(app, "127.0.0.2"), token, identity_id).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert token_row(app, token_id).num_uses == 1
