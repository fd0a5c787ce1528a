"""The OpenAPI schema says what the server really answers: every error is Infisical's envelope.

FastAPI documents request-validation failures as `{"detail": [...]}` (HTTPValidationError), but
`api/errors.py` answers them, like every other error, with `{reqId, statusCode, message, error}`.
A client generated from the schema, or a schema-driven fuzzer, would otherwise be told a shape
the server never sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ENVELOPE = "ErrorEnvelope"
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")

ENVELOPE_SCHEMA: dict[str, Any] = {
    "title": ENVELOPE,
    "type": "object",
    "description": "Every error response: the request id, the status, a message and the error name.",
    "properties": {
        "reqId": {"type": "string", "description": "The request id, also sent as X-Request-Id."},
        "statusCode": {"type": "integer"},
        "message": {
            "description": "What went wrong; for a validation failure, the list of issues.",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
        },
        "error": {"type": "string", "description": "The error's name, e.g. ValidationFailure."},
        "details": {"description": "Extra structured detail, for some errors only."},
    },
    "required": ["reqId", "statusCode", "message", "error"],
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Point every documented 422 at the envelope and drop FastAPI's unused error schemas."""
    envelope_ref = {"$ref": f"#/components/schemas/{ENVELOPE}"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            if response is not None:
                response["description"] = "Validation failure"
                response["content"] = {"application/json": {"schema": envelope_ref}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERROR_SCHEMAS:
        components.pop(name, None)
    components[ENVELOPE] = ENVELOPE_SCHEMA
    return schema


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (and so `/openapi.json`) return the corrected schema, built once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
