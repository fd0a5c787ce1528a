"""Pure rules for folder paths, folder names, secret names and values.

One canonical form per path, decided here before any permission check or lookup: `/a/b/`,
`a/b` and `//a//b` all become `/a/b`. Segments must be plain folder names, so `..`, `.`,
backslashes, percent-escapes and look-alike Unicode never reach the permission evaluator.
"""

from __future__ import annotations

import re
import unicodedata

from tessera.errors import PayloadTooLarge, ValidationFailure

FOLDER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
FOLDER_NAME_MAX = 64
PATH_MAX_CHARS = 1024
PATH_MAX_DEPTH = 32
SECRET_NAME_MAX = 256
MAX_VALUE_BYTES = 512 * 1024
MAX_COMMENT_CHARS = 10_000
# Unicode categories refused in names: control, format (bidi overrides, zero-width joiners),
# surrogate, private use, unassigned, line/paragraph separators. They make names that look
# alike but differ, or that break log lines.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
INVALID_FOLDER_NAME = (
    "Invalid folder name. Only alphanumeric characters, dashes, and underscores are allowed."
)


def normalise_path(raw: str | None, *, field: str = "secretPath") -> str:
    """Canonical absolute folder path. Raises ValidationFailure (422) for anything else."""
    if raw is None:
        return "/"
    value = raw.strip()
    if len(value) > PATH_MAX_CHARS:
        raise ValidationFailure(field, f"Path must be at most {PATH_MAX_CHARS} characters")
    segments = [segment for segment in value.split("/") if segment != ""]
    if len(segments) > PATH_MAX_DEPTH:
        raise ValidationFailure(field, f"Path must be at most {PATH_MAX_DEPTH} folders deep")
    for segment in segments:
        if segment in {".", ".."}:
            raise ValidationFailure(field, "Relative path segments ('.' and '..') are not allowed")
        if not FOLDER_NAME.fullmatch(segment) or len(segment) > FOLDER_NAME_MAX:
            raise ValidationFailure(
                field,
                "Invalid path: folder names may contain only alphanumeric characters, dashes, "
                "and underscores",
            )
    return "/" + "/".join(segments)


def join_path(parent: str, name: str) -> str:
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


def parent_path(path: str) -> str:
    if path == "/":
        return "/"
    head = path.rsplit("/", 1)[0]
    return head or "/"


def folder_name_of(path: str) -> str:
    return path.rsplit("/", 1)[-1] if path != "/" else "root"


def is_within(path: str, base: str) -> bool:
    """`path` is `base` or lies under it (`/ab` is not under `/a`)."""
    return base in ("/", path) or path.startswith(base + "/")


def validate_folder_name(name: str, *, field: str = "name") -> str:
    value = name.strip()
    if not value or len(value) > FOLDER_NAME_MAX or not FOLDER_NAME.fullmatch(value):
        raise ValidationFailure(field, INVALID_FOLDER_NAME)
    return value


def canonical_name(name: str) -> str:
    """The one spelling of a secret name, used both to store it and to look it up (trimmed, NFC),
    so "e" + U+0301 and U+00E9 name one secret for every verb and every permission check."""
    return unicodedata.normalize("NFC", name.strip())


def validate_secret_name(name: str, *, field: str = "secretName") -> str:
    """Trim and NFC-normalise; refuse `:`, `/`, `\\`, invisible and control characters, and length."""
    value = canonical_name(name)
    if not value:
        raise ValidationFailure(field, "Secret name must not be empty")
    if len(value) > SECRET_NAME_MAX:
        raise ValidationFailure(field, f"Secret name must be at most {SECRET_NAME_MAX} characters")
    if ":" in value or "/" in value:
        raise ValidationFailure(field, "Secret name cannot contain colon or forward slash.")
    if "\\" in value:
        raise ValidationFailure(field, "Secret name cannot contain a backslash.")
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value):
        raise ValidationFailure(field, "Secret name cannot contain control or invisible characters.")
    return value


def normalise_value(value: str) -> str:
    """Infisical trims values but keeps one trailing newline; the size limit is in UTF-8 bytes."""
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise PayloadTooLarge(
            f"Secret value exceeds the maximum size of {MAX_VALUE_BYTES} bytes", reason="value_too_large"
        )
    trimmed = value.strip()
    return trimmed + "\n" if value.endswith("\n") else trimmed


def validate_comment(comment: str | None) -> str:
    value = comment or ""
    if len(value) > MAX_COMMENT_CHARS:
        raise ValidationFailure("secretComment", f"Comment must be at most {MAX_COMMENT_CHARS} characters")
    return value
