"""Small pure helpers for names shown to people."""

from __future__ import annotations

import re
import secrets

_NON_SLUG = re.compile(r"[^a-z0-9]+")
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(name: str, *, max_length: int = 48) -> str:
    slug = _NON_SLUG.sub("-", name.lower()).strip("-")[:max_length].strip("-")
    return slug or "project"


def is_slug(value: str) -> bool:
    return bool(SLUG_PATTERN.fullmatch(value))


def unique_suffix() -> str:
    return secrets.token_hex(3)
