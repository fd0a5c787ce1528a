"""People's sign-in: cookies, server-side sessions, expiry, sign-out, throttling, first-run set-up."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tessera.clock import FrozenClock
from tessera.console.auth import session_key
from tessera.crypto.secrets_hash import hash_secret
from tessera.orgs.models import OrgUserMembership, User
from tests.conftest import BOOTSTRAP_BODY, CLIENT_ADDR, Admin, make_settings
from tests.console.conftest import MAX_FAILURES
from tests.console.support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Console,
    audit_of,
    field_errors,
    session_rows,
)

IDLE = 1800
MAX = 43_200


def set_cookie_header(response: Any) -> str:
    cookies = [
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("tessera_session=")
    ]
    assert cookies, "no session cookie was set"
    return str(cookies[0])


# --- the cookie and the stored session -------------------------------------------------------------


def test_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(
    anonymous: Console, admin: Admin
) -> None:
    response = anonymous.sign_in()
    assert response.status_code == 303
    attributes = [part.strip().lower() for part in set_cookie_header(response).split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes


@pytest.mark.parametrize(
    ("trusted_proxies", "forwarded_proto", "secure"),
    [
        (["127.0.0.1/32"], "https", True),
        ([], "https", False),  # the header from an untrusted peer is ignored
        (["127.0.0.1/32"], "http", False),
    ],
    ids=["trusted-proxy-says-https", "untrusted-peer-says-https", "trusted-proxy-says-http"],
)
def test_secure_flag_follows_https_only_from_trusted_proxies(
    db_url: str,
    tmp_path: Any,
    engine: Any,
    clock: FrozenClock,
    trusted_proxies: list[str],
    forwarded_proto: str,
    secure: bool,
) -> None:
    from tessera.app import create_app

    app = create_app(
        make_settings(db_url, tmp_path / "d", trusted_proxies=trusted_proxies), clock=clock, engine=engine
    )
    with TestClient(app, client=CLIENT_ADDR) as client:
        assert client.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY).status_code == 200
        browser = Console(client)
        headers = {"X-Forwarded-Proto": forwarded_proto}
        response = browser.submit(
            "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, headers=headers
        )
        assert response.status_code == 303
        attributes = [part.strip().lower() for part in set_cookie_header(response).split(";")]
        assert ("secure" in attributes) is secure


def test_only_a_keyed_hash_of_the_session_id_is_stored(console: Console, app: Any) -> None:
    raw = console.session_cookie
    assert raw
    rows = session_rows(app)
    assert len(rows) == 1
    assert rows[0].token_hash == hash_secret(raw, key=session_key(app.state.context.signing_secret))
    assert raw not in {rows[0].token_hash, rows[0].id}


def test_pages_need_a_session(anonymous: Console, admin: Admin) -> None:
    response = anonymous.get("/organization/access-control/identities")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/organization/access-control/identities"


def test_a_forged_session_cookie_is_refused(anonymous: Console, admin: Admin) -> None:
    anonymous.client.cookies.set("tessera_session", "forged-session-id")
    response = anonymous.get("/")
    assert response.status_code == 303
    assert "/login" in response.headers["location"]


# --- expiry -------------------------------------------------------------------------------------------


def test_session_ends_after_the_idle_timeout(console: Console, clock: FrozenClock) -> None:
    clock.advance(IDLE - 1)
    assert console.get("/").status_code == 200  # activity restarts the idle window
    clock.advance(IDLE - 1)
    assert console.get("/").status_code == 200
    clock.advance(IDLE + 1)
    response = console.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/&notice=expired"


def test_session_ends_at_the_absolute_limit_however_busy(console: Console, clock: FrozenClock) -> None:
    for _ in range(MAX // 1200 - 1):
        clock.advance(1200)
        assert console.get("/").status_code == 200
    clock.advance(1201)
    assert console.get("/").status_code == 303


def test_expired_session_row_is_removed(console: Console, clock: FrozenClock, app: Any) -> None:
    assert len(session_rows(app)) == 1
    clock.advance(IDLE + 1)
    console.get("/")
    assert session_rows(app) == []


# --- sign-out ------------------------------------------------------------------------------------------


def test_sign_out_ends_the_session_server_side(console: Console, app: Any) -> None:
    raw = console.session_cookie
    response = console.submit("/", action="/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=signed-out"
    assert session_rows(app) == []
    # Replaying the old cookie does not bring the session back.
    console.client.cookies.set("tessera_session", raw or "")
    assert console.get("/").status_code == 303


# --- sign-in failures and throttling -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [
        ("nobody@example.com", ADMIN_PASSWORD, "user_not_found"),
        (ADMIN_EMAIL, "wrong password entirely", "wrong_password"),
    ],
    ids=["unknown-email", "wrong-password"],
)
def test_failed_sign_in_looks_the_same_and_audits_the_reason(
    anonymous: Console, admin: Admin, app: Any, email: str, password: str, reason: str
) -> None:
    response = anonymous.sign_in(email, password)
    assert response.status_code == 401
    assert "The email or password is not correct" in response.text
    assert anonymous.session_cookie is None
    failures = [e for e in audit_of(app, "console.sign_in") if e.outcome == "failure"]
    assert [e.reason for e in failures] == [reason]


def test_disabled_person_cannot_sign_in(anonymous: Console, admin: Admin, app: Any) -> None:
    with app.state.context.session_factory() as session, session.begin():
        user = session.scalar(select(User).where(User.email == ADMIN_EMAIL))
        assert user is not None
        user.is_active = False
    assert anonymous.sign_in().status_code == 401


def test_lockout_after_repeated_failures_per_email_and_ip(
    anonymous: Console, admin: Admin, app: Any, clock: FrozenClock
) -> None:
    for _ in range(MAX_FAILURES):
        assert anonymous.sign_in(password="not the password").status_code == 401
    # Locked: even the right password is not tried.
    locked = anonymous.sign_in()
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    # Another address is not affected by this address's failures.
    with TestClient(app, client=("127.0.0.2", 50000)) as other:
        assert Console(other).sign_in().status_code == 303
    clock.advance(901)
    assert anonymous.sign_in().status_code == 303


def test_success_resets_the_failure_count(anonymous: Console, admin: Admin) -> None:
    for _ in range(MAX_FAILURES - 1):
        anonymous.sign_in(password="not the password")
    assert anonymous.sign_in().status_code == 303
    for _ in range(MAX_FAILURES - 1):
        assert anonymous.sign_in(password="not the password").status_code == 401
    assert anonymous.sign_in().status_code == 303


def test_lockout_is_per_email(anonymous: Console, admin: Admin) -> None:
    for _ in range(MAX_FAILURES):
        anonymous.sign_in("someone-else@example.com", "whatever password")
    assert anonymous.sign_in("someone-else@example.com", "whatever password").status_code == 429
    assert anonymous.sign_in().status_code == 303


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"],
    ids=["scheme-relative", "absolute", "backslash", "javascript"],
)
def test_next_after_sign_in_is_never_another_site(anonymous: Console, admin: Admin, target: str) -> None:
    response = anonymous.submit(
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "next": target}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_next_after_sign_in_returns_to_the_page(anonymous: Console, admin: Admin) -> None:
    response = anonymous.submit(
        "/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "next": "/audit"}
    )
    assert response.headers["location"] == "/audit"


def test_missing_fields_are_reported_next_to_them(anonymous: Console, admin: Admin) -> None:
    response = anonymous.submit("/login", data={"email": "", "password": ""})
    assert response.status_code == 422
    assert set(field_errors(response)) == {"email", "password"}


def test_non_admin_people_are_told_to_ask_an_admin(anonymous: Console, admin: Admin, app: Any) -> None:
    from tessera.crypto.passwords import hash_password

    now = app.state.context.clock.now()
    with app.state.context.session_factory() as session, session.begin():
        user = User(
            email="member@example.com",
            password_hash=hash_password("member password 123"),
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        session.flush()
        session.add(
            OrgUserMembership(
                org_id=admin.org_id, user_id=user.id, role="member", created_at=now, updated_at=now
            )
        )
    assert anonymous.sign_in("member@example.com", "member password 123").status_code == 303
    response = anonymous.get("/organization/access-control/identities")
    assert response.status_code == 403
    assert "organisation admins" in response.text


# --- first run ---------------------------------------------------------------------------------------


def test_first_run_offers_the_set_up_form_once(anonymous: Console, app: Any) -> None:
    assert anonymous.get("/").headers["location"].startswith("/login")
    assert anonymous.get("/login").headers["location"] == "/setup"
    response = anonymous.submit(
        "/setup",
        data={
            "organization": "Acme",
            "email": "first@example.com",
            "password": "a long enough password",
            "password_confirm": "a long enough password",
        },
    )
    assert response.status_code == 200
    assert "shown <strong>only now</strong>" in response.text
    assert anonymous.get("/setup").headers["location"] == "/login"
    assert anonymous.sign_in("first@example.com", "a long enough password").status_code == 303


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"password": "short", "password_confirm": "short"}, {"password"}),
        ({"password_confirm": "something else entirely"}, {"password_confirm"}),
        ({"email": "not-an-email"}, {"email"}),
        ({"organization": "   "}, {"organization"}),
    ],
    ids=["weak-password", "passwords-differ", "bad-email", "blank-organisation"],
)
def test_set_up_form_reports_field_errors(
    anonymous: Console, fields: dict[str, str], expected: set[str]
) -> None:
    data = {
        "organization": "Acme",
        "email": "first@example.com",
        "password": "a long enough password",
        "password_confirm": "a long enough password",
        **fields,
    }
    response = anonymous.submit("/setup", data=data)
    assert response.status_code == 422
    assert set(field_errors(response)) == expected
