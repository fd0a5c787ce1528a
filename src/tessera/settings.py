"""Configuration: one pydantic-settings class, every field documented, env prefix ``TESSERA_``."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
import secrets
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tessera.ratelimit.rates import parse_rate

logger = logging.getLogger(__name__)

# Values that appear in examples and docs; a server that starts with them in production is a
# server whose keys anyone can read.
PLACEHOLDER_VALUES = frozenset({"", "changeme", "change-me", "changethis", "secret", "placeholder", "xxx"})
ROOT_KEY_FILE = "root.key"
AUTH_SECRET_FILE = "auth.secret"  # noqa: S105 - a file name, not a secret


class Environment(StrEnum):
    development = "development"
    production = "production"


class SettingsError(ValueError):
    """Raised when the configuration cannot be used; the message tells the operator what to fix."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_", extra="ignore", validate_default=True)

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port the HTTP server listens on.")
    data_dir: Path = Field(
        Path("./tessera-data"),
        description="Directory for the embedded SQLite database and, in development, generated keys.",
    )
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL. Default: SQLite file `tessera.db` in the data directory. "
            "Production: postgresql+psycopg://user:pass@host:5432/dbname"
        ),
    )
    root_key: SecretStr | None = Field(
        None,
        description=(
            "Base64 of 32 random bytes: the key-encryption key that seals every project's data key. "
            "Generate with `tessera keys generate`."
        ),
    )
    previous_root_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated older root keys still accepted for decryption during key rotation.",
    )
    auth_secret: SecretStr | None = Field(
        None, description="Secret (at least 32 characters) that signs access tokens (HS256)."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Comma-separated CIDRs of reverse proxies. X-Forwarded-For is honoured only when the "
            "connecting peer is inside one of them; otherwise the socket address is the client IP."
        ),
    )
    env: Environment = Field(
        Environment.development,
        description=(
            "`development` generates missing keys into the data dir; "
            "`production` refuses to start without them."
        ),
    )
    azure_authority_host: str = Field(
        "https://login.microsoftonline.com",
        description=(
            "Entra ID authority used by Azure Auth to fetch signing keys "
            "(tests point it at a local stand-in)."
        ),
    )
    azure_usgovernment_authority_host: str = Field(
        "https://login.microsoftonline.us",
        description="Entra ID authority for Azure Auth configs with cloud `usgovernment`.",
    )
    azure_china_authority_host: str = Field(
        "https://login.chinacloudapi.cn",
        description="Entra ID authority for Azure Auth configs with cloud `china` (operated by 21Vianet).",
    )
    redis_url: str | None = Field(
        None,
        description="Optional Redis URL for counters shared by replicas; without it the database is used.",
    )
    redis_key_prefix: str = Field(
        "tessera:",
        description="Prefix of every Redis key Tessera writes, so deployments can share one Redis.",
    )
    rate_limit_login_per_ip: str = Field(
        "100/60",
        description=(
            "Login requests per client IP: COUNT/SECONDS (e.g. 100/60), COUNT/UNIT (100/minute) or off. "
            "Refused requests get 429 with Retry-After."
        ),
    )
    rate_limit_login_per_identity: str = Field(
        "100/60", description="Login requests per client id / identity id / refresh token (same format)."
    )
    rate_limit_secrets_per_ip: str = Field(
        "off", description="Secret, folder, import and KMS requests per client IP (same format)."
    )
    rate_limit_secrets_per_identity: str = Field(
        "off", description="Secret, folder, import and KMS requests per authenticated identity (same format)."
    )
    log_level: str = Field("INFO", description="Log level for the server's JSON logs.")
    metrics_token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token (at least 16 characters) that Prometheus must send to read `/metrics`. "
            "Unset: `/metrics` is off (404)."
        ),
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted; bigger bodies get 413."
    )
    hot_route_threads: int = Field(
        2,
        ge=1,
        le=64,
        description=(
            "Worker threads per process for the hot routes (logins, secret reads) on PostgreSQL, "
            "and on SQLite when its write lock stays taken. Few threads contend less for "
            "Python's GIL; raise it only when the database is slow to answer."
        ),
    )
    sqlite_busy_timeout_ms: int = Field(
        10_000, ge=0, description="How long an SQLite writer waits for the lock before failing."
    )
    console_session_idle_seconds: int = Field(
        1800, ge=60, description="Web console: a sign-in ends after this many seconds without a request."
    )
    console_session_max_seconds: int = Field(
        43_200, ge=300, description="Web console: a sign-in ends this long after it began, used or not."
    )
    console_login_max_failures: int = Field(
        5, ge=1, description="Web console: failed sign-ins per email and client IP before a lockout."
    )
    console_login_lockout_seconds: int = Field(
        900, ge=1, description="Web console: how long a lockout lasts; failures count over the same span."
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("previous_root_keys", mode="before")
    @classmethod
    def _parse_previous_keys(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _validate_proxies(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"TESSERA_TRUSTED_PROXIES: {cidr!r} is not an IP address or CIDR") from exc
        return value

    @field_validator(
        "rate_limit_login_per_ip",
        "rate_limit_login_per_identity",
        "rate_limit_secrets_per_ip",
        "rate_limit_secrets_per_identity",
    )
    @classmethod
    def _validate_rate(cls, value: str) -> str:
        parse_rate(value)  # raises ValueError with the expected format
        return value

    @field_validator("root_key")
    @classmethod
    def _validate_root_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() not in PLACEHOLDER_VALUES:
            decode_root_key(value.get_secret_value())
        return value

    @field_validator("previous_root_keys")
    @classmethod
    def _validate_previous_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            decode_root_key(key.get_secret_value())
        return value

    @field_validator(
        "azure_authority_host", "azure_usgovernment_authority_host", "azure_china_authority_host"
    )
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("metrics_token")
    @classmethod
    def _validate_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (_is_placeholder(value) or len(value.get_secret_value()) < 16):
            raise ValueError("TESSERA_METRICS_TOKEN must be at least 16 characters and not a placeholder")
        return value

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.env is Environment.production:
            for name in ("root_key", "auth_secret"):
                if _is_placeholder(getattr(self, name)):
                    raise ValueError(
                        f"TESSERA_{name.upper()} is missing or a placeholder; production refuses to start "
                        "without a real key. Generate one with `tessera keys generate`."
                    )
        secret = self.auth_secret
        if secret is not None and not _is_placeholder(secret) and len(secret.get_secret_value()) < 32:
            raise ValueError("TESSERA_AUTH_SECRET must be at least 32 characters")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tessera.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def root_key_bytes(self) -> bytes:
        if self.root_key is None or _is_placeholder(self.root_key):
            raise SettingsError("TESSERA_ROOT_KEY is not set; run with ensure_keys() or set it explicitly")
        return decode_root_key(self.root_key.get_secret_value())

    def previous_root_key_bytes(self) -> list[bytes]:
        return [decode_root_key(key.get_secret_value()) for key in self.previous_root_keys]

    def auth_secret_bytes(self) -> bytes:
        if self.auth_secret is None or _is_placeholder(self.auth_secret):
            raise SettingsError("TESSERA_AUTH_SECRET is not set; run with ensure_keys() or set it explicitly")
        return self.auth_secret.get_secret_value().encode()

    def ensure_keys(self) -> Settings:
        """Fill in missing keys: generated once into the data dir in development, refused in production.

        Returns a settings object with both keys set; the original is left unchanged.
        """
        updates: dict[str, Any] = {}
        if _is_placeholder(self.root_key):
            updates["root_key"] = SecretStr(self._dev_key(ROOT_KEY_FILE, generate_root_key))
        if _is_placeholder(self.auth_secret):
            updates["auth_secret"] = SecretStr(self._dev_key(AUTH_SECRET_FILE, generate_auth_secret))
        return self.model_copy(update=updates) if updates else self

    def _dev_key(self, filename: str, make: Any) -> str:
        if self.env is Environment.production:
            raise SettingsError(f"{filename} is missing and production never generates keys")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / filename
        if path.exists():
            return path.read_text().strip()
        value: str = make()
        # Write a private (0600) temporary file, then publish it with link(), which fails when the
        # name exists: two processes starting together agree on one key, and neither can read the
        # other's file while it is still empty.
        fd, tmp_name = tempfile.mkstemp(dir=self.data_dir, prefix=f".{filename}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(value + "\n")
            os.link(tmp_name, path)
        except FileExistsError:
            return path.read_text().strip()
        finally:
            os.unlink(tmp_name)
        logger.warning(
            "generated a development key at %s; set TESSERA_ENV=production and provide keys for real use",
            path,
        )
        return value


def _is_placeholder(value: SecretStr | None) -> bool:
    return value is None or value.get_secret_value().strip().lower() in PLACEHOLDER_VALUES


def decode_root_key(value: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("root key must be base64 of exactly 32 bytes") from exc
    if len(raw) != 32:
        raise ValueError("root key must be base64 of exactly 32 bytes")
    return raw


def generate_root_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def generate_auth_secret() -> str:
    return secrets.token_urlsafe(48)
