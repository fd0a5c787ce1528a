"""Liveness, readiness and the status probe Infisical clients call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from tessera import __version__
from tessera.api.deps import ContextDep
from tessera.api.responses import JSONResponse
from tessera.clock import iso_js

router = APIRouter(tags=["health"])


@router.get("/api/status", summary="Server status (probed by Infisical clients)")
def status(context: ContextDep) -> dict[str, Any]:
    return {
        "date": iso_js(context.clock.now()),
        "message": "Ok",
        "version": __version__,
        "emailConfigured": False,
        "inviteOnlySignup": False,
        "redisConfigured": context.settings.redis_url is not None,
        "secretScanningConfigured": False,
    }


@router.get("/healthz", summary="Liveness: the process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers", response_model=None)
def readyz(context: ContextDep) -> dict[str, str] | JSONResponse:
    try:
        with context.session_factory() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return {"status": "ok", "database": "ok"}
