"""Bootstrap: once only (also under a race), strong inputs only, and its token manages projects."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tessera.audit.models import AuditEvent
from tessera.audit.service import RequestContext
from tessera.clock import FrozenClock
from tessera.errors import BadRequest
from tessera.identities.models import Identity, IdentityAccessToken, IdentityOrgMembership
from tessera.orgs.models import InstanceState, Organization, OrgUserMembership, User
from tessera.orgs.service import ALREADY_BOOTSTRAPPED, BootstrapResult, bootstrap
from tessera.store.engine import make_session_factory
from tests.conftest import BOOTSTRAP_BODY, TEST_AUTH_SECRET, Admin
from tests.factories import local_app

pytestmark = pytest.mark.usefixtures("fast_passwords")

URL = "/api/v1/admin/bootstrap"


@pytest.fixture(scope="module")
def local(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """For requests refused before anything is written."""
    with local_app(sqlite_template, tmp_path_factory.mktemp("bootstrap")) as client:
        yield client


def _count(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_bootstrap_response_shape(client: TestClient, clock: FrozenClock) -> None:
    response = client.post(URL, json={**BOOTSTRAP_BODY, "email": "Admin@Example.COM"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "user", "organization", "identity"}
    assert body["message"] == "Successfully bootstrapped instance"
    assert set(body["user"]) >= {"id", "email"}
    assert body["user"]["email"] == "admin@example.com"
    assert body["user"]["createdAt"].endswith("Z")
    assert body["organization"] == {"id": body["organization"]["id"], "name": "Acme", "slug": "acme"}
    assert set(body["identity"]) == {"id", "name", "credentials"}
    assert set(body["identity"]["credentials"]) == {"token"}
    assert "password" not in response.text.lower()
    assert BOOTSTRAP_BODY["password"] not in response.text


def test_the_token_is_a_non_expiring_org_admin_identity_token(client: TestClient, engine: Engine) -> None:
    body = client.post(URL, json=BOOTSTRAP_BODY).json()
    token = body["identity"]["credentials"]["token"]
    claims = jwt.decode(token, TEST_AUTH_SECRET, algorithms=["HS256"])
    assert "exp" not in claims
    assert claims["authTokenType"] == "identityAccessToken"
    assert claims["identityId"] == body["identity"]["id"]
    with Session(engine) as session:
        row = session.get(IdentityAccessToken, claims["identityAccessTokenId"])
        membership = session.scalar(
            select(IdentityOrgMembership).where(IdentityOrgMembership.identity_id == body["identity"]["id"])
        )
        identity = session.get(Identity, body["identity"]["id"])
    assert row is not None
    assert (row.ttl_seconds, row.max_ttl_seconds, row.num_uses_limit) == (0, 0, 0)
    assert (row.expires_at, row.max_expires_at, row.is_revoked) == (None, None, False)
    assert membership is not None
    assert (membership.role, membership.org_id) == ("admin", body["organization"]["id"])
    assert identity is not None
    assert identity.org_id == body["organization"]["id"]


def test_the_token_works_as_bearer_on_project_routes(client: TestClient, admin: Admin) -> None:
    created = client.post("/api/v2/workspace", json={"projectName": "First"}, headers=admin.headers)
    assert created.status_code == 200, created.text
    listed = client.get("/api/v1/workspace", headers=admin.headers)
    assert [p["name"] for p in listed.json()["workspaces"]] == ["First"]


def test_password_is_stored_as_argon2_and_never_audited(client: TestClient, engine: Engine) -> None:
    client.post(URL, json=BOOTSTRAP_BODY)
    with Session(engine) as session:
        user = session.scalars(select(User)).one()
        events = list(session.scalars(select(AuditEvent)))
        org_membership = session.scalars(select(OrgUserMembership)).one()
    assert user.password_hash.startswith("$argon2id$")
    assert BOOTSTRAP_BODY["password"] not in user.password_hash
    assert org_membership.role == "admin"
    assert {event.event for event in events} >= {"bootstrap", "login"}
    for event in events:
        assert BOOTSTRAP_BODY["password"] not in str(event.details)


def test_bootstrap_works_exactly_once(client: TestClient, engine: Engine) -> None:
    assert client.post(URL, json=BOOTSTRAP_BODY).status_code == 200
    again = client.post(URL, json={**BOOTSTRAP_BODY, "email": "other@example.com", "organization": "Other"})
    assert again.status_code == 400
    body = again.json()
    assert (body["error"], body["message"]) == ("BadRequest", ALREADY_BOOTSTRAPPED)
    assert "already been set up" in body["message"]
    for model in (InstanceState, Organization, User, Identity):
        assert _count(engine, model) == 1, model.__name__


def test_form_urlencoded_bootstrap_with_trailing_slash(client: TestClient) -> None:
    response = client.post(f"{URL}/", data=BOOTSTRAP_BODY)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == BOOTSTRAP_BODY["email"]


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        pytest.param({}, "email", id="empty-body"),
        pytest.param({k: v for k, v in BOOTSTRAP_BODY.items() if k != "email"}, "email", id="no-email"),
        pytest.param(
            {k: v for k, v in BOOTSTRAP_BODY.items() if k != "password"}, "password", id="no-password"
        ),
        pytest.param(
            {k: v for k, v in BOOTSTRAP_BODY.items() if k != "organization"},
            "organization",
            id="no-organization",
        ),
        pytest.param({**BOOTSTRAP_BODY, "email": "admin"}, "email", id="email-without-at"),
        pytest.param({**BOOTSTRAP_BODY, "email": "admin@"}, "email", id="email-without-domain"),
        pytest.param({**BOOTSTRAP_BODY, "password": "Short1!"}, "password", id="password-short"),
        pytest.param(
            {**BOOTSTRAP_BODY, "password": "aaaaaaaaaaaaaaaa"}, "password", id="password-one-character"
        ),
        pytest.param(
            {**BOOTSTRAP_BODY, "password": "abcabcabcabcabc"}, "password", id="password-three-characters"
        ),
        pytest.param({**BOOTSTRAP_BODY, "password": None}, "password", id="password-null"),
        pytest.param({**BOOTSTRAP_BODY, "password": 123456789012345}, "password", id="password-number"),
        pytest.param({**BOOTSTRAP_BODY, "organization": ""}, "organization", id="organization-empty"),
        pytest.param({**BOOTSTRAP_BODY, "organization": "   "}, "organization", id="organization-blank"),
        pytest.param(
            {**BOOTSTRAP_BODY, "organization": "o" * 65}, "organization", id="organization-too-long"
        ),
    ],
)
def test_weak_or_missing_input_is_422(local: TestClient, body: dict[str, Any], bad_field: str) -> None:
    response = local.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationFailure"
    assert [bad_field] in [issue["path"] for issue in response.json()["message"]]


def test_a_json_array_is_not_a_bootstrap_request(local: TestClient) -> None:
    assert local.post(URL, json=[BOOTSTRAP_BODY]).status_code == 422


def test_refused_attempts_do_not_use_up_the_one_bootstrap(client: TestClient, engine: Engine) -> None:
    for bad in ({}, {**BOOTSTRAP_BODY, "password": "short"}, {**BOOTSTRAP_BODY, "email": "x"}):
        assert client.post(URL, json=bad).status_code == 422
    assert _count(engine, InstanceState) == 0
    assert client.post(URL, json=BOOTSTRAP_BODY).status_code == 200


def test_concurrent_bootstraps_let_exactly_one_win(engine: Engine, clock: FrozenClock) -> None:
    """Several requests racing on an empty instance: one admin, the rest a clean 'already' error."""
    contenders = 6
    factory = make_session_factory(engine)
    barrier = threading.Barrier(contenders)
    wins: list[BootstrapResult] = []
    refusals: list[BadRequest] = []
    unexpected: list[BaseException] = []

    now = clock.now()

    def contend(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            with factory.begin() as session:
                wins.append(
                    bootstrap(
                        session,
                        email=f"admin{number}@example.com",
                        password="correct horse battery",
                        organization_name=f"Org {number}",
                        now=now,
                        signing_secret=TEST_AUTH_SECRET.encode(),
                        ctx=RequestContext(client_ip="127.0.0.1"),
                    )
                )
        except BadRequest as exc:
            refusals.append(exc)
        except BaseException as exc:  # reported below with the test's failure
            unexpected.append(exc)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a bootstrap contender hung"
    assert unexpected == []
    assert len(wins) == 1
    assert len(refusals) == contenders - 1
    assert all(exc.message == ALREADY_BOOTSTRAPPED for exc in refusals)
    for model in (InstanceState, Organization, User, Identity, IdentityAccessToken):
        assert _count(engine, model) == 1, model.__name__
