"""A JSON response rendered with orjson (fast, and datetimes/UUIDs need no custom encoder)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    # A subclass of Starlette's JSONResponse (not just Response), so that FastAPI documents each
    # route's real response model in the OpenAPI schema instead of `{"type": "string"}`.
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
