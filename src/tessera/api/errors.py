"""THE mapping from errors to HTTP: Infisical's envelope {reqId, statusCode, message, error}."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera.api import openapi
from tessera.api.responses import JSONResponse
from tessera.errors import BadRequest, ServiceUnavailable, TesseraError
from tessera.store.availability import outage_reason

logger = logging.getLogger("tessera.errors")


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def envelope(request: Request, status: int, error: str, message: Any, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reqId": request_id_of(request),
        "statusCode": status,
        "message": message,
        "error": error,
    }
    if details is not None:
        body["details"] = details
    return body


async def handle_tessera_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TesseraError)
    if exc.status_code >= 500:
        logger.error("request failed: %s (%s)", exc.error, exc.reason)
    message: Any = exc.message
    details = exc.details
    if exc.error == "ValidationFailure" and isinstance(details, list):
        # Service-level validation speaks like request validation: message is the list of issues.
        message, details = details, None
    body = envelope(request, exc.status_code, exc.error, message, details)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _issue(error: Any) -> dict[str, Any]:
    location = list(error.get("loc", ()))
    return {
        "code": error.get("type", "invalid"),
        "message": error.get("msg", "Invalid value"),
        "path": [str(part) for part in location[1:]],
        "location": str(location[0]) if location else "body",
    }


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only the location and message: the offending input is not echoed (it may be a credential).
    issues = [_issue(error) for error in exc.errors()]
    return JSONResponse(envelope(request, 422, "ValidationFailure", issues), status_code=422)


_HTTP_ERROR_NAMES = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge", 400: "BadRequest"}


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    name = _HTTP_ERROR_NAMES.get(exc.status_code, "HTTPError")
    message = exc.detail if isinstance(exc.detail, str) else name
    if exc.status_code == 404 and message == "Not Found":
        message = f"Route {request.method}:{request.url.path} not found"
    return JSONResponse(
        envelope(request, exc.status_code, name, message), status_code=exc.status_code, headers=exc.headers
    )


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the server log under the request id; the caller learns nothing internal.
    logger.exception("unhandled error in request %s", request_id_of(request), exc_info=exc)
    # This handler runs outside the middleware that stamps X-Request-Id, so stamp it here.
    return JSONResponse(
        envelope(request, 500, "InternalServerError", "Something went wrong"),
        status_code=500,
        headers={"x-request-id": request_id_of(request)},
    )


async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database outage is a retryable 503 (fail closed, recover by itself); anything else a 500."""
    reason = outage_reason(exc)
    if reason is None:
        raise exc  # a bug, not an outage: the unexpected-error handler logs it and answers 500
    # Logged by the handler with the reason only: no SQL, parameters or connection details.
    return await handle_tessera_error(
        request, ServiceUnavailable(reason=reason, headers={"Retry-After": "1"})
    )


async def handle_out_of_range(request: Request, exc: Exception) -> JSONResponse:
    """A value the schema let through but storage cannot hold (e.g. an integer past 64 bits).

    The input is the caller's, so this is a 400, never a 500 (found by fuzzing: huge `offset`
    and `numUsesLimit` values overflowed SQLite's INTEGER and PostgreSQL's bigint).
    """
    return await handle_tessera_error(
        request, BadRequest("A value in the request is out of range", reason="value_out_of_range")
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(TesseraError, handle_tessera_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(DBAPIError, handle_database_error)
    app.add_exception_handler(PoolTimeout, handle_database_error)
    app.add_exception_handler(sqlite3.Error, handle_database_error)  # raised unwrapped by hooks
    app.add_exception_handler(psycopg.Error, handle_database_error)
    app.add_exception_handler(DataError, handle_out_of_range)
    app.add_exception_handler(psycopg.DataError, handle_out_of_range)
    app.add_exception_handler(OverflowError, handle_out_of_range)
    app.add_exception_handler(Exception, handle_unexpected)
    openapi.install(app)  # the schema documents these envelopes, not FastAPI's default error shape
