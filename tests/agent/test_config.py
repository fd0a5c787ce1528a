"""Agent configuration: what is accepted, and that each mistake names its field."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tessera_agent.auth_methods import build_auth
from tessera_agent.config import AzureAuthConfig, ConfigError, UniversalAuthConfig, load_config
from tessera_sdk import AzureAuth, RefreshTokenAuth, TokenAuth, UniversalAuth

GOOD = """
site_url: https://tessera.example.com
auth:
  method: universal-auth
  client_id: cid
  client_secret_file: secret.txt
project: proj
environment: prod
polling_interval: 30
sinks:
  - path: run/token
templates:
  - source: app.env.j2
    destination: out/app.env
    permissions: "0640"
    command: systemctl reload app
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_good_config_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert isinstance(config.auth, UniversalAuthConfig)
    assert config.auth.client_secret_file == tmp_path / "secret.txt"
    assert config.sinks[0].path == tmp_path / "run/token"
    assert config.sinks[0].permissions == 0o600
    assert config.templates[0].destination == tmp_path / "out/app.env"
    assert config.templates[0].permissions == 0o640
    assert config.polling_interval == 30


def test_yaml_octal_permissions(tmp_path: Path) -> None:
    text = GOOD.replace('permissions: "0640"', "permissions: 0640")
    assert load_config(write(tmp_path, text)).templates[0].permissions == 0o640


def test_azure_is_the_default_method(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "site_url: https://t.example\nauth:\n  identity_id: id-1\n"))
    assert isinstance(config.auth, AzureAuthConfig)
    assert config.auth.resource == "https://management.azure.com/"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("client_id: cid", "client_ids: cid"), "auth.client_ids"),
        (("  client_id: cid\n", ""), "auth.client_id"),
        (("client_secret_file: secret.txt", "client_secret_file: secret.txt\n  client_secret: x"), "auth"),
        (("polling_interval: 30", "polling_interval: 0"), "polling_interval"),
        (("polling_interval: 30", "polling_intervall: 30"), "polling_intervall"),
        (("site_url: https://tessera.example.com", "site_url: tessera.example.com"), "site_url"),
        (("method: universal-auth", "method: kerberos"), "auth"),
        (("  - path: run/token", "  - path: run/token\n    permissions: '0644'"), "sinks.0.permissions"),
        (('permissions: "0640"', 'permissions: "0666"'), "templates.0.permissions"),
        (('permissions: "0640"', 'permissions: "rw-r-----"'), "templates.0.permissions"),
        (('permissions: "0640"', "permissions: 999"), "templates.0.permissions"),
        (("  - source: app.env.j2\n    destination", "  - destination"), "templates.0"),
        (("    destination: out/app.env\n", ""), "templates.0.destination"),
    ],
    ids=[
        "typo-in-auth",
        "missing-client-id",
        "two-secrets",
        "interval-too-small",
        "unknown-top-level-key",
        "site-url-scheme",
        "unknown-method",
        "world-readable-token-sink",
        "world-writable-template",
        "symbolic-permissions",
        "permissions-out-of-range",
        "no-template-source",
        "no-destination",
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, change: tuple[str, str], field: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(old, new)))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "agent.yaml"))
    assert f" {field}" in message or f"{field}:" in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("site_url: [unclosed", "not valid YAML"), ("- a list", "mapping"), ("", "mapping")],
    ids=["bad-yaml", "list", "empty"],
)
def test_unreadable_files(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_build_auth_for_each_method(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s3cret\n")
    (tmp_path / "token.txt").write_text("tok\n")
    ua = load_config(write(tmp_path, GOOD)).auth
    assert isinstance(build_auth(ua), UniversalAuth)
    base = "site_url: https://t.example\nauth:\n"
    token = load_config(write(tmp_path, base + "  method: token\n  token_file: token.txt\n")).auth
    assert isinstance(build_auth(token), TokenAuth)
    refresh = load_config(write(tmp_path, base + "  method: refresh-token\n  refresh_token: abc\n")).auth
    assert isinstance(build_auth(refresh), RefreshTokenAuth)
    azure = load_config(write(tmp_path, base + "  identity_id: i\n  source: imds\n  client_id: uami\n")).auth
    strategy = build_auth(azure, environ={})
    assert isinstance(strategy, AzureAuth)
    assert strategy.token_source.name == "imds"


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        build_auth(load_config(write(tmp_path, GOOD)).auth)


def test_rotated_refresh_token_is_written_back(tmp_path: Path) -> None:
    (tmp_path / "rt").write_text("rt-1\n")
    text = "site_url: https://t.example\nauth:\n  method: refresh-token\n  refresh_token_file: rt\n"
    strategy = build_auth(load_config(write(tmp_path, text)).auth)
    assert isinstance(strategy, RefreshTokenAuth)
    assert strategy.refresh_token == "rt-1"
    answer = {"accessToken": "a", "expiresIn": 60, "accessTokenMaxTTL": 0, "refreshToken": "rt-2"}

    class Api:
        def post_unauthenticated(self, path: str, body: dict[str, object]) -> dict[str, object]:
            assert body == {"refreshToken": "rt-1"}
            return answer

    strategy.login(Api())
    assert (tmp_path / "rt").read_text() == "rt-2"
    assert stat.S_IMODE((tmp_path / "rt").stat().st_mode) == 0o600
