"""`GET /metrics` in the Prometheus text format, served only when TESSERA_METRICS_TOKEN is set.

Without the setting the route answers 404 as if it did not exist. With it, the caller must send
`Authorization: Bearer <token>`; the comparison is constant-time and a wrong or missing token
gets 401 with a `WWW-Authenticate` challenge (what Prometheus' `authorization` config expects).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from tessera.api.deps import AppContext
from tessera.api.errors import envelope
from tessera.api.responses import JSONResponse
from tessera.observability.metrics import metrics_of

router = APIRouter(tags=["observability"])


def _authorised(header: str | None, expected: str) -> bool:
    scheme, _, presented = (header or "").partition(" ")
    # Compare even when the scheme is wrong, so every refusal costs the same.
    same = hmac.compare_digest(presented.strip().encode(), expected.encode())
    return same and scheme.lower() == "bearer"


@router.get("/metrics", summary="Prometheus metrics (needs TESSERA_METRICS_TOKEN)", include_in_schema=False)
async def metrics(request: Request) -> Response:
    context: AppContext = request.app.state.context
    token = context.settings.metrics_token
    found = metrics_of(context.extras)
    if token is None or found is None:
        return JSONResponse(
            envelope(request, 404, "NotFound", f"Route {request.method}:{request.url.path} not found"),
            status_code=404,
        )
    if not _authorised(request.headers.get("authorization"), token.get_secret_value()):
        return JSONResponse(
            envelope(request, 401, "UnauthorizedError", "A valid metrics token is required"),
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE_LATEST)
