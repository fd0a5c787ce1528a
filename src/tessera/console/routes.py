"""The web console's router: every page, plus the vendored static files, served at `/`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tessera.console.pages import (
    auth_methods,
    credentials,
    identities,
    overview,
    project_access,
    projects,
    roles,
    secrets,
    session,
)
from tessera.console.web import PublicConsoleRoute, static_file

static = APIRouter(route_class=PublicConsoleRoute, include_in_schema=False)


@static.get("/static/console/{name}")
def console_static(name: str) -> Response:
    """Only the named, packaged files (no paths), so nothing else on disk can be read."""
    return static_file(name)


router = APIRouter(include_in_schema=False)
for part in (
    static,
    session.public,
    session.private,
    overview.router,
    projects.router,
    identities.router,
    auth_methods.router,
    credentials.router,
    project_access.router,
    roles.router,
    secrets.router,
):
    router.include_router(part)
