"""Structured logs: one JSON object per line, and one line per HTTP request.

The request line is built from an allow-list of facts the server itself decided (request id,
method, route template, status, duration, identity id). It never carries the raw path or
query (secret names and project ids travel there), a header value, a body, a token or a
secret: there is simply no field through which one could reach the log.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

ACCESS_LOGGER = "tessera.access"
_HANDLER_NAME = "tessera-json"
# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime", "taskName"}
)
# The request-line fields, in the order they are written.
REQUEST_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "identity_id")

access_logger = logging.getLogger(ACCESS_LOGGER)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...extra fields, "exception"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    """Send the server's `tessera.*` logs to stderr as JSON lines, at `level`. Idempotent.

    Called by the server entry point only: tests and embedding tools keep their own logging.
    """
    logger = logging.getLogger("tessera")
    logger.setLevel(level.upper())
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False  # one line per event, not a second copy through the root logger


def log_request(
    *,
    request_id: str | None,
    method: str,
    route: str,
    status: int,
    duration_ms: float,
    identity_id: str | None,
) -> None:
    """The one line per request (INFO on `tessera.access`)."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    access_logger.info(
        "request",
        extra={
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(duration_ms, 3),
            "identity_id": identity_id,
        },
    )
