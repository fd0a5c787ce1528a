"""Fixtures for console tests: a signed-in administrator on a bootstrapped instance."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.settings import Settings
from tests.conftest import Admin, make_settings
from tests.console.support import Console

# Each sign-in verifies an argon2 hash (deliberately slow), so the lockout tests use a low limit.
MAX_FAILURES = 3


@pytest.fixture
def settings(db_url: str, tmp_path: Any) -> Settings:
    return make_settings(db_url, tmp_path / "data", console_login_max_failures=MAX_FAILURES)


@pytest.fixture
def console(client: TestClient, admin: Admin) -> Console:
    """The bootstrap administrator, signed in to the console."""
    browser = Console(client)
    response = browser.sign_in()
    assert response.status_code == 303, response.text
    return browser


@pytest.fixture
def anonymous(client: TestClient) -> Console:
    return Console(client)


@pytest.fixture
def project_id(console: Console) -> str:
    response = console.submit("/projects/new", data={"projectName": "Payments"})
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location.split("/")[2].split("?", maxsplit=1)[0]


def create_identity(console: Console, name: str = "vm-app", role: str = "member") -> Any:
    return console.submit("/organization/access-control/identities/new", data={"name": name, "role": role})
