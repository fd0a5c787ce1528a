"""The operator commands: bootstrap, db upgrade/current/downgrade, keys generate, and the start-up
refusals of `tessera server` (run in-process; the real server process is tested in test_server.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from tessera import __version__
from tessera.app import create_app
from tessera.cli.main import app
from tessera.settings import Settings
from tessera.store import migrate
from tests.conftest import BOOTSTRAP_BODY, CLIENT_ADDR
from tests.databases import scratch_database

pytestmark = pytest.mark.usefixtures("fast_passwords")

# Settings the commands must not inherit from the developer's shell.
KEPT = {"TESSERA_TEST_DATABASE_URL", "TESSERA_REQUIRE_POSTGRES"}


def invoke(args: list[str], **env: str) -> Result:
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TESSERA_") and k not in KEPT}
    clean.update(env)
    return CliRunner().invoke(app, args, env=clean)


def said(result: Result) -> str:
    """Everything the command printed, with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _bootstrap_args(**overrides: str) -> list[str]:
    values = {**BOOTSTRAP_BODY, **overrides}
    return [
        "bootstrap",
        "--email",
        values["email"],
        "--password",
        values["password"],
        "--organization",
        values["organization"],
    ]


def test_bootstrap_prints_the_json_and_its_token_works(db_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"TESSERA_DATABASE_URL": db_url, "TESSERA_DATA_DIR": str(data_dir)}
    result = invoke(_bootstrap_args(), **env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"message", "user", "organization", "identity"}
    assert body["organization"]["name"] == BOOTSTRAP_BODY["organization"]
    assert BOOTSTRAP_BODY["password"] not in said(result)
    token = body["identity"]["credentials"]["token"]

    # The token is signed with the development key the command generated into the data dir, so a
    # server started on the same data dir accepts it.
    settings = Settings(database_url=db_url, data_dir=data_dir).ensure_keys()
    with TestClient(create_app(settings), client=CLIENT_ADDR) as client:
        response = client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text

    again = invoke(_bootstrap_args(email="second@example.com"), **env)
    assert again.exit_code == 1
    assert "already been set up" in said(again)


def test_bootstrap_reads_the_password_from_the_environment(db_url: str, tmp_path: Path) -> None:
    args = [a for a in _bootstrap_args() if a not in ("--password", BOOTSTRAP_BODY["password"])]
    result = invoke(
        args,
        TESSERA_DATABASE_URL=db_url,
        TESSERA_DATA_DIR=str(tmp_path),
        TESSERA_BOOTSTRAP_PASSWORD=BOOTSTRAP_BODY["password"],
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"password": "weak-pass"}, "password", id="short-password"),
        pytest.param({"password": "aaaaaaaaaaaaaaaaaaaa"}, "password", id="simple-password"),
        pytest.param({"email": "not-an-email"}, "email", id="bad-email"),
        pytest.param({"organization": "   "}, "organization", id="blank-organization"),
    ],
)
def test_bootstrap_refuses_weak_input_without_echoing_it(
    tmp_path: Path, overrides: dict[str, str], field: str
) -> None:
    result = invoke(_bootstrap_args(**overrides), TESSERA_DATA_DIR=str(tmp_path / "data"))
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "data").exists()  # refused before anything was created
    assert field in said(result)
    if "password" in overrides:
        assert overrides["password"] not in said(result)


@pytest.mark.parametrize(
    "command", [["server"], ["bootstrap", *_bootstrap_args()[1:]]], ids=["server", "bootstrap"]
)
def test_production_without_keys_refuses_to_start(tmp_path: Path, command: list[str]) -> None:
    result = invoke(command, TESSERA_ENV="production", TESSERA_DATA_DIR=str(tmp_path / "data"))
    assert result.exit_code == 2
    assert "TESSERA_ROOT_KEY is missing or a placeholder" in said(result)
    assert "production refuses to start" in said(result)
    assert not (tmp_path / "data").exists()  # nothing generated, nothing created


def test_a_bad_setting_is_reported_not_raised(tmp_path: Path) -> None:
    result = invoke(["server"], TESSERA_TRUSTED_PROXIES="10.0.0.0/99", TESSERA_DATA_DIR=str(tmp_path))
    assert result.exit_code == 2
    assert "configuration error" in said(result)
    assert "TESSERA_TRUSTED_PROXIES" in said(result)


def test_keys_generate_prints_usable_production_keys() -> None:
    result = invoke(["keys", "generate"])
    assert result.exit_code == 0
    lines = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    assert set(lines) == {"TESSERA_ROOT_KEY", "TESSERA_AUTH_SECRET"}
    settings = Settings(
        env="production", root_key=lines["TESSERA_ROOT_KEY"], auth_secret=lines["TESSERA_AUTH_SECRET"]
    )
    assert len(settings.root_key_bytes()) == 32
    assert invoke(["keys", "generate"]).stdout != result.stdout


def test_version() -> None:
    result = invoke(["version"])
    assert (result.exit_code, result.stdout.strip()) == (0, __version__)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_db_commands_on_a_fresh_database(tmp_path: Path, kind: str) -> None:
    with scratch_database(kind, tmp_path) as url:
        env = {"TESSERA_DATABASE_URL": url, "TESSERA_DATA_DIR": str(tmp_path / "data")}
        head = migrate.head_revision()
        assert json.loads(invoke(["db", "current"], **env).stdout) == {"current": None, "head": head}
        if kind == "postgresql":
            # An external database is never migrated behind the operator's back.
            refused = invoke(["server"], **env)
            assert refused.exit_code == 1
            assert "tessera db upgrade" in said(refused)
        upgraded = invoke(["db", "upgrade"], **env)
        assert upgraded.exit_code == 0, upgraded.output
        assert upgraded.stdout.strip() == f"database at revision {head}"
        assert json.loads(invoke(["db", "current"], **env).stdout) == {"current": head, "head": head}
        downgraded = invoke(["db", "downgrade", "base"], **env)
        assert downgraded.exit_code == 0, downgraded.output
        assert downgraded.stdout.strip() == "database at revision None"
