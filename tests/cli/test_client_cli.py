"""Client commands against a stand-in server on 127.0.0.1: login, secrets, output formats (golden
files), export, `run` (environment injection and exit codes) and credential storage."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli import client as client_module
from tessera.cli.client import CREDENTIAL_VARIABLES, ExitCode
from tessera.cli.client_output import dotenv_value
from tessera.cli.main import app
from tests.sdk.fakes import FakeTessera, Reply, SleepRecorder, serve

GOLDEN = Path(__file__).parent / "golden"
PROJECT = "proj-1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TESSERA_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"missing golden file {name} (run with TESSERA_UPDATE_GOLDEN=1)"
    assert text == path.read_text()


@pytest.fixture
def api() -> FakeTessera:
    api = FakeTessera()
    api.add_client("cid", "csecret")
    api.put(PROJECT, "dev", "/", "DATABASE_URL", "postgres://app:pw@db:5432/app", "primary database")
    api.put(PROJECT, "dev", "/", "API_KEY", "k-123")
    api.put(PROJECT, "dev", "/", "GREETING", 'hello "world" $HOME\nsecond line')
    api.put(PROJECT, "prod", "/", "MODE", "production")
    return api


@pytest.fixture
def site(api: FakeTessera) -> Iterator[str]:
    with serve(api) as url:
        yield url


@pytest.fixture
def env(tmp_path: Path, site: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "TESSERA_CONFIG_DIR": str(tmp_path / "config"),
        "TESSERA_NO_KEYRING": "1",
        "TESSERA_SITE_URL": site,
        "COLUMNS": "100",
    }
    for name in (
        "TESSERA_TOKEN",
        "TESSERA_CLIENT_ID",
        "TESSERA_CLIENT_SECRET",
        "TESSERA_PROJECT_ID",
        "TESSERA_ENV",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(client_module, "CLIENT_OPTIONS", {"sleep": SleepRecorder()})
    return values


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def logged_in(env: dict[str, str]) -> dict[str, str]:
    code, _, stderr = invoke("login", "--client-id", "cid", "--client-secret", "csecret")
    assert code == 0, stderr
    return env


# --- login and stored credentials ---------------------------------------------------------------


def test_login_stores_credentials_0600(env: dict[str, str], api: FakeTessera) -> None:
    code, _, stderr = invoke("login", "--client-id", "cid", "--client-secret", "csecret")
    assert code == 0
    assert "Logged in" in stderr
    assert "csecret" not in stderr
    stored = Path(env["TESSERA_CONFIG_DIR"]) / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    data = json.loads(stored.read_text())
    assert data["method"] == "universal-auth"
    assert data["client_id"] == "cid"
    assert data["token_state"]["access_token"] in api.tokens


def test_stored_token_is_reused_without_logging_in_again(logged_in: dict[str, str], api: FakeTessera) -> None:
    assert api.logins == 1
    for _ in range(2):
        assert invoke("secrets", "list", "--project", PROJECT, "-o", "json")[0] == 0
    assert api.logins == 1


def test_bad_credentials_exit_3(env: dict[str, str]) -> None:
    code, stdout, stderr = invoke("login", "--client-id", "cid", "--client-secret", "wrong")
    assert code == ExitCode.AUTH
    assert "Invalid credentials" in stderr
    assert "request id req-login" in stderr
    assert "Traceback" not in stderr + stdout
    assert not (Path(env["TESSERA_CONFIG_DIR"]) / "credentials.json").exists()


def test_not_logged_in_exit_3(env: dict[str, str]) -> None:
    code, _, stderr = invoke("secrets", "list", "--project", PROJECT)
    assert code == ExitCode.AUTH
    assert "tessera login" in stderr


def test_group_readable_credentials_are_refused(logged_in: dict[str, str]) -> None:
    stored = Path(logged_in["TESSERA_CONFIG_DIR"]) / "credentials.json"
    stored.chmod(0o644)
    code, _, stderr = invoke("secrets", "list", "--project", PROJECT)
    assert code == ExitCode.AUTH
    assert "chmod 600" in stderr


def test_token_login_and_env_token(
    env: dict[str, str], api: FakeTessera, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = api.issue()
    assert invoke("login", "--method", "token", "--token", token)[0] == 0
    assert invoke("secrets", "get", "API_KEY", "--project", PROJECT, "--plain") == (0, "k-123\n", "")
    assert api.logins == 0
    monkeypatch.setenv("TESSERA_TOKEN", "tok-bogus")
    assert invoke("secrets", "list", "--project", PROJECT)[0] == ExitCode.AUTH  # the variable wins


def test_refresh_token_login_keeps_the_rotated_token(env: dict[str, str], api: FakeTessera) -> None:
    api.rotate_refresh_tokens = True
    api.refresh_tokens["rt-1"] = "identity-1"
    assert invoke("login", "--method", "refresh-token", "--refresh-token", "rt-1")[0] == 0
    stored = json.loads((Path(env["TESSERA_CONFIG_DIR"]) / "credentials.json").read_text())
    assert stored["refresh_token"] != "rt-1"
    assert stored["refresh_token"] in api.refresh_tokens
    for info in api.tokens.values():
        info.revoked = True  # force a new exchange on the next command
    assert invoke("secrets", "list", "--project", PROJECT, "-o", "json")[0] == 0
    again = json.loads((Path(env["TESSERA_CONFIG_DIR"]) / "credentials.json").read_text())
    assert again["refresh_token"] in api.refresh_tokens
    assert again["refresh_token"] != stored["refresh_token"]


def test_logout_revokes_and_forgets(logged_in: dict[str, str], api: FakeTessera) -> None:
    code, _, stderr = invoke("logout")
    assert code == 0
    assert "Logged out" in stderr
    assert all(t.revoked for t in api.tokens.values())
    assert invoke("secrets", "list", "--project", PROJECT)[0] == ExitCode.AUTH


class FakeKeyring(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("keyring")
        self.store: dict[tuple[str, str], str] = {}

    class Backend:
        priority = 5

    def get_keyring(self) -> object:
        return self.Backend()

    def get_password(self, service: str, user: str) -> str | None:
        return self.store.get((service, user))

    def set_password(self, service: str, user: str, value: str) -> None:
        self.store[(service, user)] = value

    def delete_password(self, service: str, user: str) -> None:
        del self.store[(service, user)]


def test_keyring_is_used_when_usable(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKeyring()
    monkeypatch.setitem(sys.modules, "keyring", fake)
    monkeypatch.setitem(sys.modules, "keyring.errors", types.ModuleType("keyring.errors"))
    monkeypatch.delenv("TESSERA_NO_KEYRING")
    code, _, stderr = invoke("login", "--client-id", "cid", "--client-secret", "csecret")
    assert code == 0
    assert "OS keyring" in stderr
    assert not (Path(env["TESSERA_CONFIG_DIR"]) / "credentials.json").exists()
    assert json.loads(fake.store[("tessera", "default")])["client_id"] == "cid"
    assert invoke("secrets", "list", "--project", PROJECT, "-o", "json")[0] == 0


def test_missing_site_url_is_usage_error(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TESSERA_SITE_URL")
    code, _, stderr = invoke("login", "--client-id", "cid", "--client-secret", "x")
    assert code == ExitCode.USAGE
    assert "--site-url" in stderr


# --- output formats (golden files) --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "json", "dotenv", "yaml"])
def test_secrets_list_formats(logged_in: dict[str, str], fmt: str) -> None:
    code, stdout, stderr = invoke("secrets", "list", "--project", PROJECT, "--env", "dev", "--output", fmt)
    assert code == 0, stderr
    check_golden(f"secrets_list.{fmt}", stdout)


@pytest.mark.parametrize("fmt", ["dotenv", "json", "yaml"])
def test_export_formats(logged_in: dict[str, str], fmt: str) -> None:
    code, stdout, stderr = invoke("export", "--project", PROJECT, "--format", fmt)
    assert code == 0, stderr
    check_golden(f"export.{fmt}", stdout)


def test_secrets_get_table(logged_in: dict[str, str]) -> None:
    code, stdout, _ = invoke("secrets", "get", "API_KEY", "DATABASE_URL", "--project", PROJECT)
    assert code == 0
    check_golden("secrets_get.table", stdout)


def test_set_creates_and_updates_then_delete(logged_in: dict[str, str], api: FakeTessera) -> None:
    code, stdout, _ = invoke(
        "secrets", "set", "NEW=one", "API_KEY=two=2", "--project", PROJECT, "-o", "dotenv"
    )
    assert code == 0
    assert stdout == 'NEW=one\nAPI_KEY="two=2"\n'
    assert api.secrets[(PROJECT, "dev", "/")]["API_KEY"].version == 2
    code, _, stderr = invoke("secrets", "delete", "NEW", "--project", PROJECT)
    assert code == 0
    assert "deleted NEW" in stderr
    code, _, stderr = invoke("secrets", "get", "NEW", "--project", PROJECT)
    assert code == ExitCode.NOT_FOUND
    assert "Secret not found" in stderr


def test_set_rejects_malformed_assignment_without_echoing_it(logged_in: dict[str, str]) -> None:
    code, stdout, stderr = invoke("secrets", "set", "s3cr3t-value", "--project", PROJECT)
    assert code == ExitCode.USAGE
    assert "s3cr3t-value" not in stdout + stderr


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (403, "PermissionDenied", ExitCode.PERMISSION),
        (404, "NotFound", ExitCode.NOT_FOUND),
        (422, "ValidationFailure", ExitCode.ERROR),
        (503, "ServiceUnavailable", ExitCode.UNAVAILABLE),
    ],
    ids=["permission", "not-found", "validation", "unavailable"],
)
def test_error_exit_codes(
    logged_in: dict[str, str], api: FakeTessera, status: int, error: str, expected: int
) -> None:
    body = {"reqId": "req-e", "statusCode": status, "message": "refused here", "error": error}
    api.add("GET", r"/api/v4/secrets", lambda call: Reply(status, body))
    if status == 503:
        api.add("GET", r"/api/v4/secrets", lambda call: Reply(status, body, {"Retry-After": "0"}))
    code, stdout, stderr = invoke("secrets", "list", "--project", PROJECT)
    assert code == expected
    assert "refused here" in stderr
    assert "req-e" in stderr
    assert "Traceback" not in stdout + stderr


def test_unreachable_server_exit_6(logged_in: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(FakeTessera()) as gone:
        pass
    monkeypatch.setenv("TESSERA_SITE_URL", gone)
    monkeypatch.setenv("TESSERA_TOKEN", "tok")
    code, _, stderr = invoke("secrets", "list", "--project", PROJECT)
    assert code == ExitCode.UNAVAILABLE
    assert "could not reach" in stderr
    assert len(client_module.CLIENT_OPTIONS["sleep"].delays) == 3  # retried, without waiting


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("with space", '"with space"'),
        ('q"uote', '"q\\"uote"'),
        ("$HOME", '"\\$HOME"'),
        ("a\nb", '"a\\nb"'),
        ("back\\slash", '"back\\\\slash"'),
        ("`cmd`", '"\\`cmd\\`"'),
    ],
)
def test_dotenv_quoting(value: str, expected: str) -> None:
    assert dotenv_value(value) == expected


# --- tessera run: a real process ----------------------------------------------------------------


def tessera(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "tessera", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_injects_secrets_and_returns_child_code(env: dict[str, str], api: FakeTessera) -> None:
    script = (
        "import os, json, sys; "
        "names = ['API_KEY', 'GREETING', 'MODE', 'TESSERA_TOKEN', 'KEEP']; "
        "print(json.dumps({k: os.environ.get(k) for k in names})); "
        "sys.exit(7)"
    )
    # Authenticated through TESSERA_TOKEN, which the child must not inherit.
    child_env = {**env, "TESSERA_TOKEN": api.issue(), "KEEP": "kept"}
    result = tessera(
        "run", "--project", PROJECT, "--env", "dev", "--", sys.executable, "-c", script, env=child_env
    )
    assert result.returncode == 7, result.stderr
    assert json.loads(result.stdout) == {
        "API_KEY": "k-123",
        "GREETING": 'hello "world" $HOME\nsecond line',
        "MODE": None,
        "TESSERA_TOKEN": None,
        "KEEP": "kept",
    }


def test_run_skips_names_an_environment_cannot_hold(logged_in: dict[str, str], api: FakeTessera) -> None:
    api.put(PROJECT, "dev", "/", "BAD=NAME", "x")
    result = tessera(
        "run",
        "--project",
        PROJECT,
        "--",
        sys.executable,
        "-c",
        "import os; print(os.environ['API_KEY'])",
        env=logged_in,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "k-123"
    assert "BAD=NAME" in result.stderr
    assert "not passed on" in result.stderr


def test_run_passes_arguments_untouched(logged_in: dict[str, str]) -> None:
    result = tessera(
        "run",
        "--project",
        PROJECT,
        "--env",
        "prod",
        "--",
        sys.executable,
        "-c",
        "import os, sys; print(os.environ['MODE'], sys.argv[1:])",
        "--env",
        "x y",
        env=logged_in,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "production ['--env', 'x y']"


def test_run_command_not_found_is_127(logged_in: dict[str, str]) -> None:
    result = tessera("run", "--project", PROJECT, "--", "definitely-not-a-command-xyz", env=logged_in)
    assert result.returncode == 127
    assert "command not found" in result.stderr


def test_run_not_executable_is_126(logged_in: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o600)
    result = tessera("run", "--project", PROJECT, "--", str(script), env=logged_in)
    assert result.returncode == 126


def test_run_killed_child_is_128_plus_signal(logged_in: dict[str, str]) -> None:
    result = tessera(
        "run",
        "--project",
        PROJECT,
        "--",
        sys.executable,
        "-c",
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
        env=logged_in,
    )
    assert result.returncode == 128 + 9


def test_run_does_not_start_the_child_when_auth_fails(env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = tessera(
        "run",
        "--project",
        PROJECT,
        "--",
        sys.executable,
        "-c",
        f"open({str(marker)!r}, 'w')",
        env={**env, "TESSERA_TOKEN": "tok-bogus"},
    )
    assert result.returncode == ExitCode.AUTH
    assert not marker.exists()
    assert "Traceback" not in result.stderr


def test_credential_variables_named() -> None:
    assert set(CREDENTIAL_VARIABLES) == {"TESSERA_TOKEN", "TESSERA_CLIENT_SECRET", "TESSERA_REFRESH_TOKEN"}
