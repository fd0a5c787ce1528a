"""The agent's YAML configuration, validated with pydantic. Unknown keys are errors (typos surface)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tessera_sdk.azure_sources import DEFAULT_RESOURCE

AZURE_SOURCES = Literal["auto", "imds", "app_service", "workload_identity", "arc"]


class ConfigError(Exception):
    """The configuration file cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_of(values: dict[str, Any], first: str, second: str) -> None:
    given = [name for name in (first, second) if values.get(name) not in (None, "")]
    if len(given) != 1:
        raise ValueError(f"set exactly one of {first} or {second}")


class UniversalAuthConfig(_Strict):
    method: Literal["universal-auth"]
    client_id: str = Field(min_length=1, description="Universal Auth client id.")
    client_secret: SecretStr | None = Field(
        None, description="The client secret (prefer client_secret_file)."
    )
    client_secret_file: Path | None = Field(None, description="A file holding the client secret.")
    organization_slug: str | None = None

    @model_validator(mode="after")
    def _secret(self) -> UniversalAuthConfig:
        _one_of(
            {"client_secret": self.client_secret, "client_secret_file": self.client_secret_file},
            "client_secret",
            "client_secret_file",
        )
        return self


class AzureAuthConfig(_Strict):
    method: Literal["azure"]
    identity_id: str = Field(min_length=1, description="The Tessera identity with Azure Auth attached.")
    resource: str = Field(
        DEFAULT_RESOURCE, description="Audience requested from Azure; must match the server config."
    )
    source: AZURE_SOURCES = Field("auto", description="Where to get the managed-identity token.")
    client_id: str | None = Field(None, description="User-assigned identity: its client id (or the WI app).")
    object_id: str | None = None
    msi_res_id: str | None = None
    imds_endpoint: str | None = None
    identity_endpoint: str | None = None
    authority_host: str | None = None
    tenant_id: str | None = None
    federated_token_file: str | None = None
    arc_key_dir: str | None = None
    organization_slug: str | None = None


class TokenAuthConfig(_Strict):
    method: Literal["token"]
    token: SecretStr | None = Field(None, description="An access token (prefer token_file).")
    token_file: Path | None = Field(None, description="A file holding the access token.")

    @model_validator(mode="after")
    def _token(self) -> TokenAuthConfig:
        _one_of({"token": self.token, "token_file": self.token_file}, "token", "token_file")
        return self


class RefreshTokenAuthConfig(_Strict):
    method: Literal["refresh-token"]
    refresh_token: SecretStr | None = Field(None, description="A refresh token (prefer refresh_token_file).")
    refresh_token_file: Path | None = Field(
        None, description="A file holding the refresh token; rotated tokens are written back to it."
    )

    @model_validator(mode="after")
    def _token(self) -> RefreshTokenAuthConfig:
        _one_of(
            {"refresh_token": self.refresh_token, "refresh_token_file": self.refresh_token_file},
            "refresh_token",
            "refresh_token_file",
        )
        return self


AuthConfig = Annotated[
    UniversalAuthConfig | AzureAuthConfig | TokenAuthConfig | RefreshTokenAuthConfig,
    Field(discriminator="method"),
]


def _mode(value: Any) -> int:
    """File permissions: an octal string ("0600", "640") or the int YAML makes of 0600."""
    if isinstance(value, str):
        try:
            value = int(value, 8)
        except ValueError:
            raise ValueError('permissions must be an octal number such as "0600"') from None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o777:
        raise ValueError("permissions must be an octal number between 0000 and 0777")
    return value


class SinkConfig(_Strict):
    type: Literal["file"] = "file"
    path: Path = Field(description="Where the current access token is written.")
    permissions: int = Field(0o600, description="Octal mode of the token file.")

    _parse_mode = field_validator("permissions", mode="before")(_mode)

    @field_validator("permissions")
    @classmethod
    def _private(cls, value: int) -> int:
        if value & 0o007:
            raise ValueError("a token file must not be readable or writable by other users")
        return value


class TemplateConfig(_Strict):
    source: Path | None = Field(None, description="Jinja2 template file.")
    template: str | None = Field(None, description="Inline Jinja2 template (instead of source).")
    destination: Path = Field(description="The rendered file.")
    permissions: int = Field(0o600, description="Octal mode of the rendered file.")
    command: str | list[str] | None = Field(None, description="Run after the file changed (no shell).")
    command_timeout: float = Field(60.0, gt=0)

    _parse_mode = field_validator("permissions", mode="before")(_mode)

    @field_validator("permissions")
    @classmethod
    def _not_world_writable(cls, value: int) -> int:
        if value & 0o002:
            raise ValueError("a rendered secrets file must not be writable by other users")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> TemplateConfig:
        _one_of({"source": self.source, "template": self.template}, "source", "template")
        return self


class AgentConfig(_Strict):
    site_url: str = Field(description="The Tessera server, e.g. https://tessera.example.com.")
    auth: AuthConfig
    polling_interval: float = Field(60.0, ge=1, description="Seconds between checks for changed secrets.")
    project: str | None = Field(None, description="Default project id for templates.")
    environment: str | None = Field(None, description="Default environment slug for templates.")
    path: str = Field("/", description="Default secret path for templates.")
    sinks: list[SinkConfig] = Field(default_factory=list)
    templates: list[TemplateConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _azure_by_default(cls, data: Any) -> Any:
        # On Azure hosts the managed identity is the natural credential, so it is the default.
        if isinstance(data, dict) and isinstance(data.get("auth"), dict) and "method" not in data["auth"]:
            data = {**data, "auth": {**data["auth"], "method": "azure"}}
        return data

    @field_validator("site_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("site_url must start with https:// (or http:// for a local server)")
        return value


def format_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        # Drop the discriminator tag pydantic inserts ("auth.universal-auth.client_id").
        parts = [
            str(p) for p in error["loc"] if p not in ("universal-auth", "azure", "token", "refresh-token")
        ]
        lines.append(f"{'.'.join(parts) or '(top level)'}: {error['msg']}")
    return "; ".join(lines)


def load_config(path: Path) -> AgentConfig:
    """Read and validate; relative template/sink paths are taken relative to the file's folder."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_errors(exc)}") from None
    return _rebase(config, path.parent)


def _rebase(config: AgentConfig, base: Path) -> AgentConfig:
    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    sinks = [s.model_copy(update={"path": fix(s.path)}) for s in config.sinks]
    templates = [
        t.model_copy(update={"source": fix(t.source), "destination": fix(t.destination)})
        for t in config.templates
    ]
    auth = config.auth
    if isinstance(auth, UniversalAuthConfig) and auth.client_secret_file is not None:
        auth = auth.model_copy(update={"client_secret_file": fix(auth.client_secret_file)})
    elif isinstance(auth, TokenAuthConfig) and auth.token_file is not None:
        auth = auth.model_copy(update={"token_file": fix(auth.token_file)})
    elif isinstance(auth, RefreshTokenAuthConfig) and auth.refresh_token_file is not None:
        auth = auth.model_copy(update={"refresh_token_file": fix(auth.refresh_token_file)})
    return config.model_copy(update={"sinks": sinks, "templates": templates, "auth": auth})
