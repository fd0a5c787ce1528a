"""Mounts every feature's router. A feature adds its router here and nowhere else."""

from __future__ import annotations

from fastapi import FastAPI

from tessera.api import health
from tessera.orgs import routes as org_routes
from tessera.projects import routes as project_routes


def include_routers(app: FastAPI) -> None:
    app.include_router(health.router)
    app.include_router(org_routes.router)
    app.include_router(project_routes.router)
