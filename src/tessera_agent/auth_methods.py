"""Turn the `auth:` block of the agent configuration into an SDK auth strategy."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from tessera_agent.config import (
    AuthConfig,
    AzureAuthConfig,
    ConfigError,
    RefreshTokenAuthConfig,
    TokenAuthConfig,
    UniversalAuthConfig,
)
from tessera_agent.sinks import atomic_write
from tessera_sdk import AzureAuth, RefreshTokenAuth, TokenAuth, UniversalAuth
from tessera_sdk.auth import AuthStrategy

logger = logging.getLogger("tessera_agent")

_AZURE_OVERRIDES = (
    "client_id",
    "object_id",
    "msi_res_id",
    "imds_endpoint",
    "identity_endpoint",
    "authority_host",
    "tenant_id",
    "federated_token_file",
    "arc_key_dir",
)


def read_secret_file(path: Path, what: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"auth: cannot read the {what} file {path} ({exc.strerror})") from None
    if not value:
        raise ConfigError(f"auth: the {what} file {path} is empty")
    return value


def build_auth(config: AuthConfig, *, environ: Mapping[str, str] | None = None) -> AuthStrategy:
    """The SDK strategy for this configuration (secret files are read here, once)."""
    if isinstance(config, UniversalAuthConfig):
        if config.client_secret is not None:
            secret = config.client_secret.get_secret_value()
        else:
            assert config.client_secret_file is not None
            secret = read_secret_file(config.client_secret_file, "client secret")
        return UniversalAuth(config.client_id, secret, organization_slug=config.organization_slug)
    if isinstance(config, TokenAuthConfig):
        if config.token is not None:
            return TokenAuth(config.token.get_secret_value())
        assert config.token_file is not None
        return TokenAuth(read_secret_file(config.token_file, "token"))
    if isinstance(config, RefreshTokenAuthConfig):
        return _refresh(config)
    return _azure(config, environ)


def _refresh(config: RefreshTokenAuthConfig) -> AuthStrategy:
    path = config.refresh_token_file
    if config.refresh_token is not None:
        initial = config.refresh_token.get_secret_value()
    else:
        assert path is not None
        initial = read_secret_file(path, "refresh token")

    def persist(successor: str) -> None:
        # The server retired the old token: only the new one works after a restart.
        if path is None:
            logger.warning("the refresh token was rotated but cannot be saved (use refresh_token_file)")
            return
        atomic_write(path, successor.encode(), 0o600)
        logger.info("rotated refresh token saved to %s", path)

    return RefreshTokenAuth(initial, on_rotate=persist)


def _azure(config: AzureAuthConfig, environ: Mapping[str, str] | None) -> AuthStrategy:
    overrides = {name: getattr(config, name) for name in _AZURE_OVERRIDES if getattr(config, name)}
    return AzureAuth(
        config.identity_id,
        resource=config.resource,
        source=config.source,
        environ=dict(environ) if environ is not None else None,
        organization_slug=config.organization_slug,
        **overrides,
    )
