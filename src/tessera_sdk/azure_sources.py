"""Where an Azure workload gets its managed-identity token, and how.

Four sources, detected from the environment the way Azure's own SDKs do it (first match wins):

1. App Service / Functions / Container Apps: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`
   → GET {IDENTITY_ENDPOINT}?resource&api-version=2019-08-01 with header X-IDENTITY-HEADER.
2. Azure Arc-enabled servers: `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`
   → GET with Metadata: true, answered 401 + `WWW-Authenticate: Basic realm=<key file>`; the key
   file is read only from the agent's token directory (and only if small), then sent back as
   `Authorization: Basic <key>`.
3. AKS workload identity: `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_CLIENT_ID` + `AZURE_TENANT_ID`
   → the projected service-account token is exchanged at
   {AZURE_AUTHORITY_HOST}{tenant}/oauth2/v2.0/token (client credentials with client_assertion).
4. VM / VM scale set IMDS (the fallback): GET http://169.254.169.254/metadata/identity/oauth2/token
   ?api-version=2018-02-01&resource with header Metadata: true, retried on 404/410/429/5xx with
   exponential backoff as Microsoft advises.

Every endpoint can be overridden (`AzureSourceOptions`), which is also how the tests point each
source at a local stand-in. Tokens are cached until shortly before they expire (`CachedTokenSource`).
Local endpoints are called without proxies: IMDS is not meant to be reached through one.
"""

from __future__ import annotations

import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, model_validator

from tessera_sdk.errors import TokenSourceError
from tessera_sdk.retry import Retrier, RetryPolicy

DEFAULT_RESOURCE = "https://management.azure.com/"
IMDS_TOKEN_URL = "http://169.254.169.254/metadata/identity/oauth2/token"  # noqa: S105 (a URL)
IMDS_API_VERSION = "2018-02-01"
APP_SERVICE_API_VERSION = "2019-08-01"
ARC_API_VERSION = "2020-06-01"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com/"
ARC_KEY_DIR_LINUX = "/var/opt/azcmagent/tokens"
ARC_MAX_KEY_BYTES = 4096
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

SOURCES = ("auto", "imds", "app_service", "workload_identity", "arc")

# Microsoft's IMDS guidance: retry 404 (IMDS updating), 410 (back within 70 s), 429 and 5xx with
# exponential backoff, five retries.
IMDS_RETRY_STATUSES = frozenset({404, 410, 429, *range(500, 600)})
IMDS_RETRY = RetryPolicy(attempts=6, base_delay=2.0, max_delay=60.0, methods=frozenset({"GET"}))
# Other token endpoints: the usual 429/5xx. The token exchange is a POST but asking again for a
# token has no side effect, so it may be repeated.
SOURCE_RETRY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=30.0, methods=frozenset({"GET", "POST"}))
SOURCE_RETRY_STATUSES = frozenset({429, *range(500, 600)})

_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


@dataclass(frozen=True)
class AzureToken:
    token: str = field(repr=False)
    expires_on: float  # epoch seconds; 0 when the endpoint did not say
    source: str


class TokenSource(Protocol):
    name: str

    def get_token(self, resource: str) -> AzureToken: ...


class AzureSourceOptions(BaseModel):
    """Overrides for token source detection. Unset fields come from the environment or defaults."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    # User-assigned identity selector (at most one). Not supported on Arc.
    client_id: str | None = None
    object_id: str | None = None
    msi_res_id: str | None = None
    # Endpoint overrides.
    imds_endpoint: str | None = None  # the full IMDS token URL
    identity_endpoint: str | None = None  # App Service / Arc token URL (else IDENTITY_ENDPOINT)
    identity_header: str | None = None  # App Service secret (else IDENTITY_HEADER)
    federated_token_file: str | None = None  # else AZURE_FEDERATED_TOKEN_FILE
    tenant_id: str | None = None  # else AZURE_TENANT_ID
    authority_host: str | None = None  # else AZURE_AUTHORITY_HOST, else login.microsoftonline.com
    arc_key_dir: str | None = None  # the only directory an Arc challenge file may come from
    # Plumbing, mostly for tests.
    timeout: float = 10.0
    transport: httpx.BaseTransport | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> AzureSourceOptions:
        chosen = [name for name in ("client_id", "object_id", "msi_res_id") if getattr(self, name)]
        if len(chosen) > 1:
            raise ValueError(f"choose one user-assigned identity selector, not {' and '.join(chosen)}")
        return self

    def http(self) -> httpx.Client:
        """A short-lived client: no proxies from the environment, no redirects."""
        return httpx.Client(
            transport=self.transport, timeout=self.timeout, trust_env=False, follow_redirects=False
        )

    def retrier(self, policy: RetryPolicy) -> Retrier:
        return Retrier(policy=policy, sleep=self.sleep, clock=self.clock, rng=self.rng or random.Random())  # noqa: S311 (jitter)


def token_from_response(response: httpx.Response, source: str, now: float) -> AzureToken:
    """Parse an OAuth-style token answer; `expires_on` (IMDS, App Service) or `expires_in` (Entra)."""
    if response.status_code != 200:
        raise TokenSourceError(
            f"{source}: token endpoint answered HTTP {response.status_code}{_azure_error(response)}",
            status=response.status_code,
        )
    try:
        body = response.json()
    except ValueError:
        raise TokenSourceError(f"{source}: token endpoint did not answer JSON") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenSourceError(f"{source}: token endpoint answered without an access_token")
    return AzureToken(token=token, expires_on=_expiry(body, now), source=source)


def _expiry(body: dict[str, Any], now: float) -> float:
    # IMDS and App Service send numbers as strings ("expires_on": "1506484173").
    for key, relative in (("expires_on", False), ("expires_in", True)):
        try:
            value = float(body[key])
        except (KeyError, TypeError, ValueError):
            continue
        return now + value if relative else value
    return 0.0


def _azure_error(response: httpx.Response) -> str:
    """`: <error> (<description>)` from an Azure error body, shortened; nothing else is echoed."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or not body.get("error"):
        return ""
    error = body["error"]
    if isinstance(error, dict):  # App Service nests {"error": {"code", "message"}}
        error = error.get("code", "")
    description = str(body.get("error_description", ""))[:200]
    return f": {error}" + (f" ({description})" if description else "")


class ImdsSource:
    """VM / VM scale set Instance Metadata Service."""

    name = "imds"

    def __init__(self, options: AzureSourceOptions) -> None:
        self.options = options
        self.endpoint = options.imds_endpoint or IMDS_TOKEN_URL

    def get_token(self, resource: str) -> AzureToken:
        params = {"api-version": IMDS_API_VERSION, "resource": resource, **_selector(self.options)}
        with self.options.http() as http:
            request = http.build_request("GET", self.endpoint, params=params, headers={"Metadata": "true"})
            response = self.options.retrier(IMDS_RETRY).send(http, request, statuses=IMDS_RETRY_STATUSES)
            return token_from_response(response, self.name, self.options.clock())


def _selector(
    options: AzureSourceOptions, names: tuple[str, str, str] = ("client_id", "object_id", "msi_res_id")
) -> dict[str, str]:
    values = (options.client_id, options.object_id, options.msi_res_id)
    return {name: value for name, value in zip(names, values, strict=True) if value}


class AppServiceSource:
    """App Service, Functions and Container Apps (the 2019-08-01 protocol)."""

    name = "app_service"

    def __init__(self, options: AzureSourceOptions, endpoint: str, header: str) -> None:
        self.options = options
        self.endpoint = endpoint
        self._header = header

    def get_token(self, resource: str) -> AzureToken:
        params = {
            "api-version": APP_SERVICE_API_VERSION,
            "resource": resource,
            **_selector(self.options, ("client_id", "principal_id", "mi_res_id")),
        }
        with self.options.http() as http:
            request = http.build_request(
                "GET", self.endpoint, params=params, headers={"X-IDENTITY-HEADER": self._header}
            )
            response = self.options.retrier(SOURCE_RETRY).send(http, request, statuses=SOURCE_RETRY_STATUSES)
            return token_from_response(response, self.name, self.options.clock())


class WorkloadIdentitySource:
    """AKS workload identity: exchange the projected token for an Entra access token."""

    name = "workload_identity"

    def __init__(
        self,
        options: AzureSourceOptions,
        *,
        token_file: str,
        client_id: str,
        tenant_id: str,
        authority_host: str,
    ) -> None:
        if not _TENANT_RE.match(tenant_id):
            raise ValueError("AZURE_TENANT_ID is not a valid tenant id or domain")
        self.options = options
        self.token_file = Path(token_file)
        self.client_id = client_id
        authority = authority_host if authority_host.endswith("/") else authority_host + "/"
        self.token_url = f"{authority}{tenant_id}/oauth2/v2.0/token"

    def get_token(self, resource: str) -> AzureToken:
        # Read the file on every fetch: the kubelet rotates the projected token.
        try:
            assertion = self.token_file.read_text().strip()
        except OSError as exc:
            raise TokenSourceError(
                f"workload_identity: cannot read the federated token file ({exc.strerror})"
            ) from None
        scope = resource if resource.endswith("/.default") else f"{resource}/.default"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "scope": scope,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        with self.options.http() as http:
            request = http.build_request("POST", self.token_url, data=form)
            response = self.options.retrier(SOURCE_RETRY).send(http, request, statuses=SOURCE_RETRY_STATUSES)
            return token_from_response(response, self.name, self.options.clock())


def default_arc_key_dir() -> str:
    if sys.platform == "win32":
        program_data = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return str(Path(program_data) / "AzureConnectedMachineAgent" / "Tokens")
    return ARC_KEY_DIR_LINUX


class ArcSource:
    """Azure Arc-enabled servers: a challenge file proves the caller may read the agent's tokens."""

    name = "arc"

    def __init__(self, options: AzureSourceOptions, endpoint: str) -> None:
        if _selector(options):
            raise ValueError(
                "Azure Arc supports only the system-assigned identity (no client_id/object_id/msi_res_id)"
            )
        self.options = options
        self.endpoint = endpoint
        self.key_dir = Path(options.arc_key_dir or default_arc_key_dir())

    def get_token(self, resource: str) -> AzureToken:
        params = {"api-version": ARC_API_VERSION, "resource": resource}
        retrier = self.options.retrier(SOURCE_RETRY)
        with self.options.http() as http:
            first = retrier.send(
                http,
                http.build_request("GET", self.endpoint, params=params, headers={"Metadata": "true"}),
                statuses=SOURCE_RETRY_STATUSES,
            )
            if first.status_code != 401:
                return token_from_response(first, self.name, self.options.clock())
            key = self._read_challenge(first.headers.get("www-authenticate", ""))
            headers = {"Metadata": "true", "Authorization": f"Basic {key}"}
            second = retrier.send(
                http,
                http.build_request("GET", self.endpoint, params=params, headers=headers),
                statuses=SOURCE_RETRY_STATUSES,
            )
            return token_from_response(second, self.name, self.options.clock())

    def _read_challenge(self, header: str) -> str:
        """The key file named by the challenge, if it is a small .key file inside the token dir."""
        match = re.match(r"\s*Basic\s+realm=\"?([^\"]+)\"?\s*$", header, re.IGNORECASE)
        if not match:
            raise TokenSourceError("arc: the 401 answer carried no Basic realm challenge", status=401)
        try:
            path = Path(match.group(1)).resolve(strict=True)
            root = self.key_dir.resolve(strict=True)
        except OSError:
            raise TokenSourceError("arc: the challenge file does not exist") from None
        # resolve() first, so neither ".." nor a symlink can lead out of the token directory.
        if not path.is_relative_to(root) or path.suffix != ".key":
            raise TokenSourceError(
                f"arc: refusing a challenge file outside {self.key_dir} or not named *.key"
            )
        if not path.is_file() or path.stat().st_size > ARC_MAX_KEY_BYTES:
            raise TokenSourceError(
                f"arc: the challenge file is not a regular file of at most {ARC_MAX_KEY_BYTES} bytes"
            )
        return path.read_text().strip()


class CachedTokenSource:
    """Remembers tokens per resource until `margin` seconds before they expire."""

    def __init__(
        self, inner: TokenSource, *, clock: Callable[[], float] | None = None, margin: float = 300.0
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self._clock = clock or _clock_of(inner)
        self._margin = margin
        self._cache: dict[str, AzureToken] = {}
        self._lock = threading.Lock()

    def get_token(self, resource: str) -> AzureToken:
        with self._lock:
            cached = self._cache.get(resource)
            now = self._clock()
            if cached is not None and cached.expires_on - self._margin > now:
                return cached
            token = self.inner.get_token(resource)
            if token.expires_on - self._margin > now:
                self._cache[resource] = token
            return token

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def _clock_of(source: TokenSource) -> Callable[[], float]:
    options = getattr(source, "options", None)
    return options.clock if isinstance(options, AzureSourceOptions) else time.time


def make_token_source(
    source: str = "auto",
    options: AzureSourceOptions | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> TokenSource:
    """Build the source named by `source`, or the one the environment points at ("auto")."""
    options = options or AzureSourceOptions()
    env = os.environ if environ is None else environ
    if source not in SOURCES:
        raise ValueError(f"unknown Azure token source {source!r}; choose one of {', '.join(SOURCES)}")
    if source == "auto":
        source = detect_source(options, env)
    if source == "imds":
        return ImdsSource(options)
    if source == "app_service":
        endpoint = _required(options.identity_endpoint, env, "IDENTITY_ENDPOINT")
        return AppServiceSource(options, endpoint, _required(options.identity_header, env, "IDENTITY_HEADER"))
    if source == "arc":
        return ArcSource(options, _required(options.identity_endpoint, env, "IDENTITY_ENDPOINT"))
    return WorkloadIdentitySource(
        options,
        token_file=_required(options.federated_token_file, env, "AZURE_FEDERATED_TOKEN_FILE"),
        client_id=_required(options.client_id, env, "AZURE_CLIENT_ID"),
        tenant_id=_required(options.tenant_id, env, "AZURE_TENANT_ID"),
        authority_host=options.authority_host or env.get("AZURE_AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST,
    )


def detect_source(options: AzureSourceOptions, env: Mapping[str, str]) -> str:
    """The source name for this host, in azure-identity's order (Service Fabric is not supported)."""
    endpoint = options.identity_endpoint or env.get("IDENTITY_ENDPOINT")
    if endpoint and (options.identity_header or env.get("IDENTITY_HEADER")):
        if env.get("IDENTITY_SERVER_THUMBPRINT"):
            raise TokenSourceError("Service Fabric managed identity is not supported; set an explicit source")
        return "app_service"
    if endpoint and (env.get("IMDS_ENDPOINT") or options.arc_key_dir):
        return "arc"
    workload = (
        options.federated_token_file or env.get("AZURE_FEDERATED_TOKEN_FILE"),
        options.tenant_id or env.get("AZURE_TENANT_ID"),
        options.client_id or env.get("AZURE_CLIENT_ID"),
    )
    if all(workload):
        return "workload_identity"
    return "imds"


def _required(explicit: str | None, env: Mapping[str, str], name: str) -> str:
    value = explicit or env.get(name)
    if not value:
        raise TokenSourceError(f"{name} is not set (needed by the chosen Azure token source)")
    return value


__all__ = [
    "DEFAULT_RESOURCE",
    "AppServiceSource",
    "ArcSource",
    "AzureSourceOptions",
    "AzureToken",
    "CachedTokenSource",
    "ImdsSource",
    "TokenSource",
    "WorkloadIdentitySource",
    "detect_source",
    "make_token_source",
]
