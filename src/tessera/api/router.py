"""Mounts every feature's router. A feature adds its router here and nowhere else."""

from __future__ import annotations

from fastapi import FastAPI

from tessera.api import health
from tessera.audit import routes as audit_routes
from tessera.auth import token_routes
from tessera.auth.azure import routes as azure_auth_routes
from tessera.auth.refresh import routes as refresh_auth_routes
from tessera.auth.token import routes as token_auth_routes
from tessera.auth.universal import routes as universal_auth_routes
from tessera.console import routes as console_routes
from tessera.identities import routes as identity_routes
from tessera.kms_keys import routes as kms_key_routes
from tessera.observability import routes as observability_routes
from tessera.orgs import routes as org_routes
from tessera.projects import routes as project_routes
from tessera.rbac import membership_routes
from tessera.rbac import routes as rbac_routes
from tessera.secrets import routes as secret_routes


def include_routers(app: FastAPI) -> None:
    # Routes are matched by trying them in this order, so the ones machines call most (logins,
    # secret reads) come early. Order decides only between routes that can match the same
    # request: the secrets router (all but v3/v4) stays after the projects router, whose
    # `/api/v1/projects/slug/{slug}` would otherwise lose `GET /api/v1/projects/slug/tags`.
    app.include_router(health.router)
    app.include_router(universal_auth_routes.router)
    app.include_router(azure_auth_routes.router)
    app.include_router(secret_routes.hot_router)
    app.include_router(org_routes.router)
    app.include_router(project_routes.router)
    app.include_router(secret_routes.router)
    app.include_router(identity_routes.router)
    app.include_router(rbac_routes.router)
    app.include_router(membership_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(token_auth_routes.router)
    app.include_router(refresh_auth_routes.router)
    app.include_router(token_routes.router)
    app.include_router(console_routes.router)
    app.include_router(kms_key_routes.router)
    app.include_router(observability_routes.router)
