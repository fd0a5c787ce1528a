"""The one error hierarchy. Services raise these; `tessera.api.errors` maps them to HTTP.

Each class carries the HTTP status and the wire `error` name Infisical clients expect, a public
`message`, and an internal `reason` code that goes to logs and the audit trail but never to the
caller. Nothing here imports the web framework.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TesseraError(Exception):
    status_code: ClassVar[int] = 500
    error: ClassVar[str] = "InternalServerError"
    default_message: ClassVar[str] = "Something went wrong"

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
        audit: dict[str, Any] | None = None,
        persist: bool = False,
    ) -> None:
        self.message = message or self.default_message
        self.reason = reason
        self.details = details
        self.headers = headers or {}
        # When set, the request edge writes an audit record of this failure in its own
        # transaction (the request's own transaction is rolled back).
        self.audit = audit
        # When True, what the request wrote before failing is committed rather than rolled back
        # (a failed-login counter, a token revoked for passing its max TTL).
        self.persist = persist
        super().__init__(self.message)


class BadRequest(TesseraError):
    status_code = 400
    error = "BadRequest"
    default_message = "The request is not valid"


class Unauthorized(TesseraError):
    status_code = 401
    error = "UnauthorizedError"
    default_message = "You are not allowed to access this resource"


class InvalidCredentials(Unauthorized):
    """Every failed login looks like this from outside; `reason` says what really failed."""

    default_message = "Invalid credentials"


class TokenError(TesseraError):
    """A bearer token that is garbled, forged or expired (Infisical answers 403 here)."""

    status_code = 403
    error = "TokenError"
    default_message = (
        "The provided access token is malformed. "
        + "Please use a valid token or generate a new one and try again."
    )


class Forbidden(TesseraError):
    status_code = 403
    error = "ForbiddenError"
    default_message = "You are not allowed to access this resource"


class PermissionDenied(Forbidden):
    error = "PermissionDenied"
    default_message = "You are not allowed to perform this action"


class PermissionBoundaryError(Forbidden):
    error = "PermissionBoundaryError"
    default_message = "You cannot grant permissions you do not hold"


class NotFound(TesseraError):
    status_code = 404
    error = "NotFound"
    default_message = "Not found"


class Conflict(TesseraError):
    status_code = 409
    error = "Conflict"
    default_message = "The resource already exists"


class PayloadTooLarge(TesseraError):
    status_code = 413
    error = "PayloadTooLarge"
    default_message = "The request body is too large"


class ValidationFailure(TesseraError):
    """A service-level validation problem reported like request validation (422, list of issues)."""

    status_code = 422
    error = "ValidationFailure"
    default_message = "The request is not valid"

    def __init__(self, field: str, message: str, *, code: str = "invalid") -> None:
        super().__init__(message, details=[{"code": code, "message": message, "path": field.split(".")}])
        self.field = field


class RateLimited(TesseraError):
    status_code = 429
    error = "RateLimitExceeded"
    default_message = "Too many requests, please try again later"


class ServiceUnavailable(TesseraError):
    status_code = 503
    error = "ServiceUnavailable"
    default_message = "The service is temporarily unavailable, please retry"


class UpstreamUnavailable(ServiceUnavailable):
    """A dependency we do not control (Entra ID, a key endpoint) could not be reached."""

    default_message = "An upstream service is unavailable, please retry"


class DecryptionFailed(TesseraError):
    """Ciphertext failed authentication: tampered, moved, or sealed under an unknown key."""

    status_code = 500
    error = "DecryptionFailed"
    default_message = "Stored data could not be decrypted; it may have been tampered with"
