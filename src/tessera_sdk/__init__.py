"""Tessera SDK: a client for Tessera (and Infisical-compatible) servers. Depends on httpx and pydantic.

from tessera_sdk import Client, UniversalAuth

with Client("https://tessera.example.com", auth=UniversalAuth(client_id, client_secret)) as client:
    for secret in client.secrets.list(project_id, "prod").secrets:
        print(secret.key)
"""

from __future__ import annotations

__version__ = "0.1.0"

from tessera_sdk.auth import AzureAuth, RefreshTokenAuth, TokenAuth, TokenState, UniversalAuth
from tessera_sdk.azure_sources import AzureSourceOptions, make_token_source
from tessera_sdk.client import Client
from tessera_sdk.errors import (
    AuthenticationError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TesseraError,
    TokenSourceError,
    ValidationError,
)
from tessera_sdk.models import Folder, KmsKey, Secret, SecretList
from tessera_sdk.retry import RetryPolicy

__all__ = [
    "AuthenticationError",
    "AzureAuth",
    "AzureSourceOptions",
    "Client",
    "Folder",
    "KmsKey",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RefreshTokenAuth",
    "RetryPolicy",
    "Secret",
    "SecretList",
    "ServerError",
    "TesseraError",
    "TokenAuth",
    "TokenSourceError",
    "TokenState",
    "UniversalAuth",
    "ValidationError",
    "__version__",
    "make_token_source",
]
