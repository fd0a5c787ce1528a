"""Authentication strategies and the token manager that keeps one access token fresh.

A strategy knows how to obtain a token (`login`). The `TokenManager` decides when: it renews the
token shortly before it expires (`POST /api/v1/auth/token/renew`), logs in again when a renewal
would run past the token's max TTL or fails, and makes concurrent callers share one login.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tessera_sdk.azure_sources import (
    DEFAULT_RESOURCE,
    AzureSourceOptions,
    CachedTokenSource,
    TokenSource,
    make_token_source,
)
from tessera_sdk.errors import AuthenticationError, TesseraError
from tessera_sdk.models import TokenGrant

logger = logging.getLogger("tessera_sdk.auth")

UNIVERSAL_AUTH_LOGIN = "/api/v1/auth/universal-auth/login"
AZURE_AUTH_LOGIN = "/api/v1/auth/azure-auth/login"
REFRESH_TOKEN_LOGIN = "/api/v1/auth/refresh-token-auth/login"  # noqa: S105 (a route, not a secret)
TOKEN_RENEW = "/api/v1/auth/token/renew"  # noqa: S105 (a route, not a secret)
TOKEN_REVOKE = "/api/v1/auth/token/revoke"  # noqa: S105 (a route, not a secret)

# Renew this long before expiry: 10 % of the TTL, at least 5 s (the go-sdk's margin) and at most
# 5 minutes, so that a request started just before the deadline still carries a live token.
MIN_RENEW_MARGIN = 5.0
MAX_RENEW_MARGIN = 300.0


class LoginApi(Protocol):
    """What a strategy may call: unauthenticated POSTs to the server."""

    def post_unauthenticated(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...


class AuthStrategy(Protocol):
    """How to get an access token. `can_relogin`: may `login` be called again after the first time."""

    can_relogin: bool
    renewable: bool

    def login(self, api: LoginApi) -> TokenGrant: ...


class UniversalAuth:
    """Client id + client secret (`POST /api/v1/auth/universal-auth/login`)."""

    can_relogin = True
    renewable = True

    def __init__(self, client_id: str, client_secret: str, *, organization_slug: str | None = None) -> None:
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required")
        self.client_id = client_id
        self._client_secret = client_secret
        self.organization_slug = organization_slug

    def __repr__(self) -> str:
        return f"UniversalAuth(client_id={self.client_id!r})"

    def login(self, api: LoginApi) -> TokenGrant:
        body = {"clientId": self.client_id, "clientSecret": self._client_secret}
        if self.organization_slug:
            body["organizationSlug"] = self.organization_slug
        return TokenGrant.model_validate(api.post_unauthenticated(UNIVERSAL_AUTH_LOGIN, body))


class TokenAuth:
    """A ready-made access token, used as is: no request is made to "log in", nothing is renewed."""

    can_relogin = False
    renewable = False

    def __init__(self, access_token: str) -> None:
        if not access_token:
            raise ValueError("access_token is required")
        self._token = access_token

    def __repr__(self) -> str:
        return "TokenAuth(access_token=***)"

    def login(self, api: LoginApi) -> TokenGrant:
        return TokenGrant(access_token=self._token, expires_in=0, access_token_max_ttl=0)


class RefreshTokenAuth:
    """A refresh-token credential, exchanged for access tokens (`POST /api/v1/auth/refresh-token-auth/login`).

    When the server rotates refresh tokens, every exchange returns a new one and retires the
    presented one (presenting a retired token again revokes the whole family). The new token
    replaces the old one here and is passed to `on_rotate`, which should persist it: after a
    restart only the newest token works.
    """

    can_relogin = True
    renewable = True

    def __init__(self, refresh_token: str, *, on_rotate: Callable[[str], None] | None = None) -> None:
        if not refresh_token:
            raise ValueError("refresh_token is required")
        self._refresh_token = refresh_token
        self._on_rotate = on_rotate

    def __repr__(self) -> str:
        return "RefreshTokenAuth(refresh_token=***)"

    @property
    def refresh_token(self) -> str:
        return self._refresh_token

    def login(self, api: LoginApi) -> TokenGrant:
        body = api.post_unauthenticated(REFRESH_TOKEN_LOGIN, {"refreshToken": self._refresh_token})
        successor = body.get("refreshToken")
        if isinstance(successor, str) and successor and successor != self._refresh_token:
            self._refresh_token = successor
            if self._on_rotate is not None:
                self._on_rotate(successor)
        return TokenGrant.model_validate(body)


class AzureAuth:
    """An Azure managed identity: fetch its token where the workload runs, exchange it for ours.

    `source` is "auto" (detect from the environment), "imds", "app_service",
    "workload_identity" or "arc". `overrides` are `AzureSourceOptions` fields: a user-assigned
    identity selector (`client_id`, `object_id`, `msi_res_id`) and endpoint/base-URL overrides.
    """

    can_relogin = True
    renewable = True

    def __init__(
        self,
        identity_id: str,
        *,
        resource: str = DEFAULT_RESOURCE,
        source: str = "auto",
        environ: dict[str, str] | None = None,
        token_source: TokenSource | None = None,
        clock: Callable[[], float] | None = None,
        organization_slug: str | None = None,
        **overrides: Any,
    ) -> None:
        if not identity_id:
            raise ValueError("identity_id is required")
        self.identity_id = identity_id
        self.resource = resource
        self.organization_slug = organization_slug
        if token_source is None:
            options = AzureSourceOptions(**overrides)
            token_source = make_token_source(source, options, environ=environ)
        elif overrides:
            raise ValueError("pass either token_source or source overrides, not both")
        self.token_source: TokenSource = (
            token_source
            if isinstance(token_source, CachedTokenSource)
            else CachedTokenSource(token_source, clock=clock)
        )

    def __repr__(self) -> str:
        return f"AzureAuth(identity_id={self.identity_id!r}, source={self.token_source.name!r})"

    def login(self, api: LoginApi) -> TokenGrant:
        azure_token = self.token_source.get_token(self.resource)
        body = {"identityId": self.identity_id, "jwt": azure_token.token}
        if self.organization_slug:
            body["organizationSlug"] = self.organization_slug
        return TokenGrant.model_validate(api.post_unauthenticated(AZURE_AUTH_LOGIN, body))


@dataclass(frozen=True)
class TokenState:
    """An adopted token with absolute times (epoch seconds). Serialisable, so a CLI can cache it."""

    access_token: str
    obtained_at: float
    expires_in: float = 0.0  # 0 = never expires
    max_expires_at: float | None = None  # first login + max TTL; renewals never move it

    @property
    def expires_at(self) -> float | None:
        return self.obtained_at + self.expires_in if self.expires_in > 0 else None

    def expired(self, now: float) -> bool:
        expires_at = self.expires_at
        return expires_at is not None and now >= expires_at

    def renew_due(self, now: float) -> bool:
        expires_at = self.expires_at
        return expires_at is not None and now >= expires_at - renew_margin(self.expires_in)

    def renewal_fits(self, now: float, ttl: float) -> bool:
        """Would a renewal now stay within the max TTL? (The server deletes the token if not.)"""
        return self.max_expires_at is None or now + ttl <= self.max_expires_at

    def refresh_in(self, now: float) -> float | None:
        """Seconds until the manager will want to renew (None: never)."""
        expires_at = self.expires_at
        if expires_at is None:
            return None
        return max(0.0, expires_at - renew_margin(self.expires_in) - now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "obtained_at": self.obtained_at,
            "expires_in": self.expires_in,
            "max_expires_at": self.max_expires_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenState:
        max_expires_at = data.get("max_expires_at")
        return cls(
            access_token=str(data["access_token"]),
            obtained_at=float(data["obtained_at"]),
            expires_in=float(data.get("expires_in", 0)),
            max_expires_at=float(max_expires_at) if max_expires_at is not None else None,
        )


def renew_margin(ttl: float) -> float:
    return min(MAX_RENEW_MARGIN, max(MIN_RENEW_MARGIN, ttl * 0.1))


class TokenManager:
    """Holds the current token; renews or re-logs-in under a lock so callers share one login."""

    def __init__(
        self,
        strategy: AuthStrategy,
        api: LoginApi,
        *,
        clock: Callable[[], float],
        state: TokenState | None = None,
        on_change: Callable[[TokenState], None] | None = None,
    ) -> None:
        self.strategy = strategy
        self._api = api
        self._clock = clock
        self._state = state
        self._lock = threading.Lock()
        self._on_change = on_change

    @property
    def state(self) -> TokenState | None:
        return self._state

    def token(self) -> str:
        """A token to send now, renewing or logging in first when due."""
        state = self._state
        now = self._clock()
        if state is not None and not state.renew_due(now):
            return state.access_token
        if state is not None and not state.expired(now):
            # Still valid: if another caller is already refreshing, use the current token
            # rather than queueing behind that network call.
            if not self._lock.acquire(blocking=False):
                return state.access_token
        else:
            self._lock.acquire()
        try:
            return self._refresh_locked()
        finally:
            self._lock.release()

    def invalidate(self, rejected_token: str) -> bool:
        """The server refused `rejected_token`; drop it. True when a retry with a new token may help."""
        with self._lock:
            if self._state is not None and self._state.access_token != rejected_token:
                return True  # someone already replaced it
            if not self.strategy.can_relogin:
                return False
            self._state = None
            return True

    def _refresh_locked(self) -> str:
        now = self._clock()
        state = self._state
        # Another caller may have refreshed while this one waited for the lock.
        if state is not None and not state.renew_due(now):
            return state.access_token
        if state is not None and not state.expired(now) and self.strategy.renewable:
            if state.renewal_fits(now, state.expires_in):
                try:
                    return self._adopt(self._renew(state), now, keep_max=state.max_expires_at)
                except TesseraError as exc:
                    logger.info("token renewal failed (%s); logging in again", exc.message)
            if not self.strategy.can_relogin:
                # Nothing better to do than use the token while it lasts.
                return state.access_token
        if state is not None and not self.strategy.can_relogin:
            raise AuthenticationError("the access token has expired and this credential cannot log in again")
        return self._adopt(self.strategy.login(self._api), now, keep_max=None)

    def _renew(self, state: TokenState) -> TokenGrant:
        body = self._api.post_unauthenticated(TOKEN_RENEW, {"accessToken": state.access_token})
        return TokenGrant.model_validate(body)

    def _adopt(self, grant: TokenGrant, now: float, *, keep_max: float | None) -> str:
        if keep_max is None and grant.access_token_max_ttl > 0:
            keep_max = now + grant.access_token_max_ttl
        self._state = TokenState(
            access_token=grant.access_token,
            obtained_at=now,
            expires_in=float(grant.expires_in),
            max_expires_at=keep_max,
        )
        if self._on_change is not None:
            self._on_change(self._state)
        return grant.access_token
