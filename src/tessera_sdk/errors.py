"""Every error the SDK raises, as one tree rooted at `TesseraError`.

    TesseraError                 status, message, request_id, error (the server's wire name)
    ├── AuthenticationError      401, or 403 "TokenError": bad credentials, expired/revoked token
    │   └── TokenSourceError     no Azure managed-identity token could be obtained
    ├── PermissionDeniedError    403 (other than TokenError): the identity may not do this
    ├── NotFoundError            404
    ├── ValidationError          400, 409, 413, 422: the request itself was rejected
    ├── RateLimitError           429 (after retries); `retry_after` in seconds when the server said
    ├── ServerError              5xx (after retries)
    └── NetworkError             no HTTP answer at all (connection refused, timeout, TLS); status 0

Catch `TesseraError` to handle them all. `status` is the HTTP status (0 when there was no
answer), `message` the server's human-readable message and `request_id` the server's request id
(quote it when reporting a problem). Messages never contain credentials or secret values.
"""

from __future__ import annotations

import email.utils
from typing import Any

import httpx


class TesseraError(Exception):
    """Base class of every SDK error."""

    def __init__(self, message: str, *, status: int = 0, request_id: str = "", error: str = "") -> None:
        self.message = message
        self.status = status
        self.request_id = request_id
        self.error = error
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status:
            parts.append(f"(HTTP {self.status}")
            parts[-1] += f", request {self.request_id})" if self.request_id else ")"
        return " ".join(parts)


class AuthenticationError(TesseraError):
    """Logging in failed, or the access token is no longer accepted."""


class TokenSourceError(AuthenticationError):
    """The Azure managed-identity endpoint gave no usable token (or none could be found)."""


class PermissionDeniedError(TesseraError):
    """The identity is authenticated but not allowed to perform the request."""


class NotFoundError(TesseraError):
    """The project, environment, folder, secret or key does not exist (or is not visible)."""


class ValidationError(TesseraError):
    """The server rejected the request as malformed or conflicting."""


class RateLimitError(TesseraError):
    """Too many requests; `retry_after` is the server's hint in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(TesseraError):
    """The server failed (5xx)."""


class NetworkError(TesseraError):
    """The request never got an HTTP answer."""


def _message_of(body: Any, response: httpx.Response) -> tuple[str, str, str]:
    """(message, wire error name, request id) from an Infisical error envelope, if there is one."""
    request_id = response.headers.get("x-request-id", "")
    if not isinstance(body, dict):
        return (response.reason_phrase or f"HTTP {response.status_code}", "", request_id)
    message = body.get("message", "")
    if isinstance(message, list):
        # Validation failures carry a list of issues: "path: message" each.
        message = "; ".join(_issue_text(issue) for issue in message)
    request_id = str(body.get("reqId") or request_id)
    text = str(message) or response.reason_phrase or f"HTTP {response.status_code}"
    return text, str(body.get("error") or ""), request_id


def _issue_text(issue: Any) -> str:
    if not isinstance(issue, dict):
        return str(issue)
    path = ".".join(str(part) for part in issue.get("path", []) or [])
    text = str(issue.get("message", "invalid"))
    return f"{path}: {text}" if path else text


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds: the delta-seconds form, or an HTTP date when `now` is given."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        if now is None:
            return None
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None


def error_from_response(response: httpx.Response) -> TesseraError:
    """The exception for a non-2xx response."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    message, error, request_id = _message_of(body, response)
    status = response.status_code
    kwargs: dict[str, Any] = {"status": status, "request_id": request_id, "error": error}
    if status == 401 or (status == 403 and error == "TokenError"):
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return PermissionDeniedError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status in (400, 409, 413, 422):
        return ValidationError(message, **kwargs)
    if status == 429:
        return RateLimitError(
            message, retry_after=parse_retry_after(response.headers.get("retry-after")), **kwargs
        )
    if status >= 500:
        return ServerError(message, **kwargs)
    return TesseraError(message, **kwargs)
