"""Pure helpers between HTML forms and the services' schemas: field errors and policy fields."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tessera.errors import TesseraError, ValidationFailure

FORM_ERROR = "_form"


def pydantic_errors(exc: ValidationError) -> dict[str, str]:
    """{field name (the wire alias, as the form names it): first message}; model-level → `_form`."""
    errors: dict[str, str] = {}
    for problem in exc.errors():
        location = [str(part) for part in problem.get("loc", ())]
        name = location[0] if location else FORM_ERROR
        message = str(problem.get("msg", "Invalid value"))
        errors.setdefault(name, message.removeprefix("Value error, "))
    return errors


def service_errors(exc: TesseraError) -> dict[str, str]:
    """A service's failure as form errors: a named field when it says which, otherwise the form."""
    if isinstance(exc, ValidationFailure):
        details = exc.details if isinstance(exc.details, list) else []
        errors: dict[str, str] = {}
        for item in details:
            if isinstance(item, dict):
                path = item.get("path") or [exc.field]
                errors.setdefault(str(path[0]), str(item.get("message", exc.message)))
        return errors or {exc.field: exc.message}
    return {FORM_ERROR: exc.message}


def lines(value: str) -> list[str]:
    """Comma- or newline-separated entries, blanks dropped."""
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


def policy_values(form: Any, prefix: str = "") -> dict[str, Any]:
    """The four token-policy fields from a form, in the wire names `TokenPolicyIn` takes."""

    def get(name: str) -> str:
        value = form.get(prefix + name, "")
        return value.strip() if isinstance(value, str) else ""

    return {
        "accessTokenTTL": get("accessTokenTTL") or None,
        "accessTokenMaxTTL": get("accessTokenMaxTTL") or None,
        "accessTokenNumUsesLimit": get("accessTokenNumUsesLimit") or None,
        "accessTokenTrustedIps": [{"ipAddress": ip} for ip in lines(get("accessTokenTrustedIps"))] or None,
    }


def without_blanks(values: dict[str, Any]) -> dict[str, Any]:
    """Drop fields left empty so the schema's defaults apply."""
    return {name: value for name, value in values.items() if value is not None}
