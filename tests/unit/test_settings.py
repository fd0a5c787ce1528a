"""Settings: production refuses unusable keys, development generates them once, env parsing."""

from __future__ import annotations

import base64
import logging
import os
import stat
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from tessera.settings import (
    AUTH_SECRET_FILE,
    ROOT_KEY_FILE,
    Environment,
    Settings,
    SettingsError,
    decode_root_key,
    generate_auth_secret,
    generate_root_key,
)

GOOD_ROOT_KEY = base64.b64encode(b"k" * 32).decode()
GOOD_AUTH_SECRET = "a-real-auth-secret-with-enough-characters-0123"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TESSERA_* variable from the developer's shell may leak into these tests."""
    for key in list(os.environ):
        if key.startswith("TESSERA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def _messages(exc: ValidationError) -> str:
    return " | ".join(str(error["msg"]) for error in exc.errors())


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.data_dir == Path("./tessera-data")
    assert settings.env is Environment.development
    assert settings.azure_authority_host == "https://login.microsoftonline.com"
    assert settings.trusted_proxies == []
    assert settings.is_sqlite
    assert settings.resolved_database_url == f"sqlite:///{(Path('tessera-data') / 'tessera.db').resolve()}"


def test_every_field_is_documented() -> None:
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undocumented == []


# --- production refuses missing and placeholder keys ------------------------------------------

PLACEHOLDERS = [None, "", "   ", "changeme", "CHANGEME", "change-me", "changethis", "secret", "placeholder"]


@pytest.mark.parametrize("value", PLACEHOLDERS, ids=repr)
def test_production_refuses_missing_or_placeholder_root_key(value: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env="production", root_key=value, auth_secret=GOOD_AUTH_SECRET)
    message = _messages(caught.value)
    assert "TESSERA_ROOT_KEY" in message
    assert "production refuses to start" in message


@pytest.mark.parametrize("value", PLACEHOLDERS, ids=repr)
def test_production_refuses_missing_or_placeholder_auth_secret(value: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env="production", root_key=GOOD_ROOT_KEY, auth_secret=value)
    message = _messages(caught.value)
    assert "TESSERA_AUTH_SECRET" in message
    assert "production refuses to start" in message


def test_production_refusal_comes_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_ENV", "production")
    monkeypatch.setenv("TESSERA_AUTH_SECRET", GOOD_AUTH_SECRET)
    monkeypatch.setenv("TESSERA_ROOT_KEY", "changeme")
    with pytest.raises(ValidationError, match="TESSERA_ROOT_KEY is missing or a placeholder"):
        Settings()


def test_production_starts_with_real_keys() -> None:
    settings = Settings(env="production", root_key=GOOD_ROOT_KEY, auth_secret=GOOD_AUTH_SECRET)
    assert settings.root_key_bytes() == b"k" * 32
    assert settings.auth_secret_bytes() == GOOD_AUTH_SECRET.encode()
    # Real keys are kept as they are: nothing is generated or written.
    assert settings.ensure_keys() is settings


def test_production_never_generates_keys(tmp_path: Path) -> None:
    settings = Settings(env="production", root_key=GOOD_ROOT_KEY, auth_secret=GOOD_AUTH_SECRET)
    missing = settings.model_copy(update={"root_key": None, "data_dir": tmp_path / "data"})
    with pytest.raises(SettingsError, match="production never generates keys"):
        missing.ensure_keys()
    assert not (tmp_path / "data" / ROOT_KEY_FILE).exists()


# --- malformed values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not base64 at all!", id="not-base64"),
        pytest.param(base64.b64encode(b"k" * 16).decode(), id="16-bytes"),
        pytest.param(base64.b64encode(b"k" * 31).decode(), id="31-bytes"),
        pytest.param(base64.b64encode(b"k" * 33).decode(), id="33-bytes"),
        pytest.param(base64.b64encode(b"k" * 64).decode(), id="64-bytes"),
        pytest.param(GOOD_ROOT_KEY[:-2], id="truncated"),
    ],
)
@pytest.mark.parametrize("env", ["development", "production"])
def test_root_key_must_be_base64_of_32_bytes(value: str, env: str) -> None:
    with pytest.raises(ValidationError, match="root key must be base64 of exactly 32 bytes"):
        Settings(env=env, root_key=value, auth_secret=GOOD_AUTH_SECRET)


def test_a_bad_previous_root_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(previous_root_keys=f"{GOOD_ROOT_KEY},{base64.b64encode(b'x' * 8).decode()}")


@pytest.mark.parametrize("env", ["development", "production"])
def test_auth_secret_needs_32_characters(env: str) -> None:
    with pytest.raises(ValidationError, match="TESSERA_AUTH_SECRET must be at least 32 characters"):
        Settings(env=env, root_key=GOOD_ROOT_KEY, auth_secret="x" * 31)
    assert Settings(env=env, root_key=GOOD_ROOT_KEY, auth_secret="x" * 32).auth_secret_bytes() == b"x" * 32


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not-an-ip", id="word"),
        pytest.param("10.0.0.0/33", id="prefix-too-long"),
        pytest.param("300.1.1.1", id="octet-out-of-range"),
        pytest.param("10.0.0.0/8,bogus", id="second-entry-bad"),
        pytest.param("fd00::/129", id="ipv6-prefix-too-long"),
    ],
)
def test_bad_trusted_proxy_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TESSERA_TRUSTED_PROXIES", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = _messages(caught.value)
    assert "TESSERA_TRUSTED_PROXIES" in message
    assert "is not an IP address or CIDR" in message


@pytest.mark.parametrize("value", ["0", "65536", "http"])
def test_bad_port_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TESSERA_PORT", value)
    with pytest.raises(ValidationError):
        Settings()


# --- environment parsing ----------------------------------------------------------------------


def test_env_prefix_and_csv_lists(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    second = base64.b64encode(b"p" * 32).decode()
    monkeypatch.setenv("TESSERA_HOST", "0.0.0.0")
    monkeypatch.setenv("TESSERA_PORT", "9000")
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("TESSERA_DATABASE_URL", "postgresql+psycopg://u@db:5432/t")
    monkeypatch.setenv("TESSERA_TRUSTED_PROXIES", " 10.0.0.0/8 , 192.168.1.1,,fd00::/8 ")
    monkeypatch.setenv("TESSERA_PREVIOUS_ROOT_KEYS", f"{GOOD_ROOT_KEY}, {second}")
    monkeypatch.setenv("TESSERA_AZURE_AUTHORITY_HOST", "http://127.0.0.1:9999/")
    monkeypatch.setenv("TESSERA_ENV", "production")
    monkeypatch.setenv("TESSERA_ROOT_KEY", GOOD_ROOT_KEY)
    monkeypatch.setenv("TESSERA_AUTH_SECRET", GOOD_AUTH_SECRET)
    settings = Settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.data_dir == tmp_path / "d"
    assert settings.resolved_database_url == "postgresql+psycopg://u@db:5432/t"
    assert not settings.is_sqlite
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.168.1.1", "fd00::/8"]
    assert settings.previous_root_key_bytes() == [b"k" * 32, b"p" * 32]
    assert settings.azure_authority_host == "http://127.0.0.1:9999"
    assert settings.env is Environment.production


def test_an_empty_csv_is_an_empty_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == []


def test_unrelated_tessera_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test suite itself sets TESSERA_TEST_DATABASE_URL; it must not break the server's settings.
    monkeypatch.setenv("TESSERA_TEST_DATABASE_URL", "postgresql+psycopg://x@y/z")
    assert Settings().database_url is None


def test_secrets_are_not_shown_in_repr() -> None:
    settings = Settings(root_key=GOOD_ROOT_KEY, auth_secret=GOOD_AUTH_SECRET)
    assert GOOD_ROOT_KEY not in repr(settings)
    assert GOOD_AUTH_SECRET not in repr(settings)


# --- development key generation ---------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_development_generates_keys_once_with_mode_0600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "fresh" / "data"
    original = Settings(data_dir=data_dir)
    with caplog.at_level(logging.WARNING, logger="tessera.settings"):
        resolved = original.ensure_keys()
    root_file, secret_file = data_dir / ROOT_KEY_FILE, data_dir / AUTH_SECRET_FILE
    assert _mode(root_file) == 0o600
    assert _mode(secret_file) == 0o600
    assert len(resolved.root_key_bytes()) == 32
    assert len(resolved.auth_secret_bytes()) >= 32
    assert root_file.read_text().strip() == resolved.root_key.get_secret_value()  # type: ignore[union-attr]
    # The original object is left alone; the warning names the file and never the key itself.
    assert original.root_key is None
    assert str(root_file) in caplog.text
    assert resolved.root_key.get_secret_value() not in caplog.text  # type: ignore[union-attr]
    assert resolved.auth_secret.get_secret_value() not in caplog.text  # type: ignore[union-attr]

    before = (root_file.read_bytes(), secret_file.read_bytes())
    again = Settings(data_dir=data_dir).ensure_keys()
    assert again.root_key_bytes() == resolved.root_key_bytes()
    assert again.auth_secret_bytes() == resolved.auth_secret_bytes()
    assert (root_file.read_bytes(), secret_file.read_bytes()) == before
    assert sorted(p.name for p in data_dir.iterdir()) == sorted([ROOT_KEY_FILE, AUTH_SECRET_FILE])


def test_development_keeps_explicit_keys_and_generates_only_the_missing_one(tmp_path: Path) -> None:
    resolved = Settings(data_dir=tmp_path, root_key=GOOD_ROOT_KEY).ensure_keys()
    assert resolved.root_key_bytes() == b"k" * 32
    assert not (tmp_path / ROOT_KEY_FILE).exists()
    assert (tmp_path / AUTH_SECRET_FILE).exists()


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    """Several starters racing on an empty data dir all end up with the same, non-empty keys."""
    rounds, starters = 10, 8
    for round_number in range(rounds):
        data_dir = tmp_path / str(round_number)
        barrier = threading.Barrier(starters)
        results: list[tuple[bytes, bytes]] = []

        def start(
            data_dir: Path = data_dir,
            barrier: threading.Barrier = barrier,
            results: list[tuple[bytes, bytes]] = results,
        ) -> None:
            settings = Settings(data_dir=data_dir)
            barrier.wait(timeout=10)
            resolved = settings.ensure_keys()
            results.append((resolved.root_key_bytes(), resolved.auth_secret_bytes()))

        threads = [threading.Thread(target=start) for _ in range(starters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(results) == starters
        assert len(set(results)) == 1, f"round {round_number}: starters disagree on the keys"
        assert sorted(p.name for p in data_dir.iterdir()) == sorted([ROOT_KEY_FILE, AUTH_SECRET_FILE])


def test_key_accessors_refuse_missing_keys() -> None:
    settings = Settings()
    with pytest.raises(SettingsError, match="TESSERA_ROOT_KEY is not set"):
        settings.root_key_bytes()
    with pytest.raises(SettingsError, match="TESSERA_AUTH_SECRET is not set"):
        settings.auth_secret_bytes()


def test_generated_values_are_valid_and_fresh() -> None:
    assert len(decode_root_key(generate_root_key())) == 32
    assert generate_root_key() != generate_root_key()
    assert len(generate_auth_secret()) >= 32
    assert generate_auth_secret() != generate_auth_secret()
