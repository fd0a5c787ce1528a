"""`Client`: the entry point. One httpx client, one token manager, one resource object per API area."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from tessera_sdk import __version__
from tessera_sdk.auth import TOKEN_REVOKE, AuthStrategy, TokenManager, TokenState
from tessera_sdk.errors import TesseraError
from tessera_sdk.folders import FoldersResource
from tessera_sdk.kms import KmsResource
from tessera_sdk.retry import NO_RETRY, Retrier, RetryPolicy, raise_for_status
from tessera_sdk.secrets import SecretsResource

Params = Mapping[str, str | int | None]


def normalize_site_url(site_url: str) -> str:
    """`https://host`, `https://host/` and `https://host/api` all mean the same server."""
    url = site_url.strip().rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")]
    if not url.startswith(("http://", "https://")):
        raise ValueError("site_url must start with http:// or https://")
    return url


class Client:
    """A Tessera client.

        client = Client("https://tessera.example.com", auth=UniversalAuth(client_id, client_secret))
        secrets = client.secrets.list(project_id, "prod")

    `transport` replaces the network (e.g. `httpx.MockTransport`); `clock`, `sleep` and `rng`
    replace time and randomness (tests). `token_state` seeds a previously obtained token and
    `on_token_change` is called with every new one (the CLI caches it between runs).
    """

    def __init__(
        self,
        site_url: str,
        auth: AuthStrategy,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        token_state: TokenState | None = None,
        on_token_change: Callable[[TokenState], None] | None = None,
    ) -> None:
        self.site_url = normalize_site_url(site_url)
        self._http = httpx.Client(
            base_url=self.site_url,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": f"tessera-sdk/{__version__}"},
            follow_redirects=False,
        )
        self._retrier = Retrier(
            policy=retry or RetryPolicy(),
            sleep=sleep,
            clock=clock,
            rng=rng or random.Random(),  # noqa: S311 (jitter, not crypto)
        )
        self._once = Retrier(policy=NO_RETRY, sleep=sleep, clock=clock)
        self.tokens = TokenManager(auth, self, clock=clock, state=token_state, on_change=on_token_change)
        self.secrets = SecretsResource(self)
        self.folders = FoldersResource(self)
        self.kms = KmsResource(self)

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- authentication -----------------------------------------------------------------------

    def login(self) -> TokenState:
        """Obtain (or renew) the access token now rather than on the first request."""
        self.tokens.token()
        state = self.tokens.state
        assert state is not None
        return state

    def revoke(self) -> None:
        """Revoke the current access token on the server (`POST /api/v1/auth/token/revoke`)."""
        state = self.tokens.state
        if state is not None:
            self.post_unauthenticated(TOKEN_REVOKE, {"accessToken": state.access_token})

    def post_unauthenticated(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A POST without a bearer token (login, renew, revoke); never retried."""
        request = self._http.build_request("POST", path, json=body)
        return _json_object(raise_for_status(self._once.send(self._http, request)))

    # --- authenticated requests ----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with the current token; on a token rejection, log in again once and resend."""
        token = self.tokens.token()
        response = self._send(method, path, token, params, json, headers)
        if _token_rejected(response) and self.tokens.invalidate(token):
            response.close()
            response = self._send(method, path, self.tokens.token(), params, json, headers)
        return raise_for_status(response)

    def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _json_object(self.request(method, path, **kwargs))

    def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: Params | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        request = self._http.build_request(
            method,
            path,
            params=clean,
            json=json,
            headers={**(headers or {}), "Authorization": f"Bearer {token}"},
        )
        return self._retrier.send(self._http, request)


def _token_rejected(response: httpx.Response) -> bool:
    """401, or Infisical's 403 TokenError for an expired/garbled token."""
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == "TokenError"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise TesseraError(
            "the server answered with something other than JSON", status=response.status_code
        ) from None
    if not isinstance(body, dict):
        raise TesseraError("the server answered with an unexpected JSON shape", status=response.status_code)
    return body
