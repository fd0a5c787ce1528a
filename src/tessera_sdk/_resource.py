"""What a resource needs from the client (kept as a protocol to avoid an import cycle)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import httpx


class Requester(Protocol):
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | None] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response: ...

    def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]: ...


def segment(value: str) -> str:
    """One URL path segment, escaped so a name can never change the route."""
    return quote(value, safe="")


def flag(value: bool) -> str:
    """Query booleans are the exact strings the server accepts."""
    return "true" if value else "false"
