"""Pure parsing of the identifiers Azure Auth compares: GUIDs and ARM resource IDs.

Entra writes GUIDs in lowercase without braces, and ARM treats resource IDs case-insensitively,
so both are normalised once (at save time for configuration, at comparison time for claims) and
compared exactly afterwards. Resource IDs are compared by whole path segments, never as
substrings: `/resourceGroups/prod` must not match `/resourceGroups/prod-2`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence

_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")
# Azure resource-group names: 1-90 of letters, digits, underscore, hyphen, period and
# parentheses, not ending in a period.
_RESOURCE_GROUP = re.compile(r"^[\w\-.()]{0,89}[\w\-()]$")
_SEGMENT = re.compile(r"^[\w\-.()~@!$%+=:,]+$")
MAX_RESOURCE_ID_LENGTH = 1024
# Messages name the expected form and never repeat the value: what was typed into an ID field
# may be a pasted credential, and a 422 must not send it back (or into a proxy's log).
NOT_A_GUID = "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
NOT_GUIDS = "every entry must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
NOT_RESOURCE_GROUPS = (
    "every entry must be a resource group name: up to 90 letters, digits, '_', '-', '.', '(' or ')', "
    "not ending in '.'"
)
NOT_RESOURCE_IDS = "every entry must be an Azure resource ID starting with /subscriptions/<guid>"


def normalise_guid(value: str) -> str:
    """`{ABCD…}` → `abcd…`. Raises ValueError unless the text is a GUID."""
    text = value.strip()
    if not _GUID.fullmatch(text) or (text.startswith("{") != text.endswith("}")):
        raise ValueError(NOT_A_GUID)
    return str(uuid.UUID(text.strip("{}")))


def canonical_guid(value: object) -> str | None:
    """A claim value as a canonical GUID, or None when it is not one (never raises)."""
    if not isinstance(value, str):
        return None
    try:
        return normalise_guid(value)
    except ValueError:
        return None


def split_list(value: object) -> list[str]:
    """Accept a comma-separated string or a list of strings; drop blanks and duplicates, keep order."""
    if value is None:
        return []
    items: Iterable[object]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError("expected a comma-separated string or a list of strings")
    result: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("expected a comma-separated string or a list of strings")
        text = item.strip()
        if text and text not in result:
            result.append(text)
    return result


def normalise_guids(value: object) -> list[str]:
    result: list[str] = []
    for item in split_list(value):
        try:
            guid = normalise_guid(item)
        except ValueError:
            raise ValueError(NOT_GUIDS) from None
        if guid not in result:
            result.append(guid)
    return result


def normalise_resource_group(value: str) -> str:
    text = value.strip()
    if not _RESOURCE_GROUP.fullmatch(text):
        raise ValueError(NOT_RESOURCE_GROUPS)
    return text


def resource_segments(resource_id: str) -> tuple[str, ...] | None:
    """`/subscriptions/S/resourceGroups/RG/...` → lowercase segments, or None when not a resource ID.

    Anchored: the first two segments must be `subscriptions` and a GUID. Empty segments (`//`),
    `.`/`..` and characters ARM never uses are refused, so odd spellings cannot slip past a match.
    """
    if not resource_id or len(resource_id) > MAX_RESOURCE_ID_LENGTH or not resource_id.startswith("/"):
        return None
    parts = resource_id.rstrip("/").split("/")[1:]
    if len(parts) < 2 or parts[0].lower() != "subscriptions" or canonical_guid(parts[1]) is None:
        return None
    for part in parts:
        if not _SEGMENT.fullmatch(part) or part in {".", ".."}:
            return None
    return tuple(part.lower() for part in parts)


def normalise_resource_id(value: str) -> str:
    """Validate an allowed resource-ID prefix; keeps the caller's spelling minus a trailing slash."""
    text = value.strip().rstrip("/")
    if resource_segments(text) is None:
        raise ValueError(NOT_RESOURCE_IDS)
    return text


def subscription_of(segments: Sequence[str]) -> str:
    return segments[1]


def resource_group_of(segments: Sequence[str]) -> str | None:
    if len(segments) >= 4 and segments[2] == "resourcegroups":
        return segments[3]
    return None


def has_prefix(segments: Sequence[str], prefix: Sequence[str]) -> bool:
    """Whole-segment prefix match on already lowercased segments."""
    return len(prefix) <= len(segments) and tuple(segments[: len(prefix)]) == tuple(prefix)
