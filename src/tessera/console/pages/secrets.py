"""The secrets browser: one project environment and folder at a time, values masked until revealed.

Listing asks the secrets service for names only (`view_value=False`), so a value is never in
the page until someone presses "Reveal", which is a POST (CSRF-checked, audited) for one secret.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from tessera.api.deps import ContextDep, SessionDep
from tessera.console.forms import service_errors
from tessera.console.web import (
    ConsoleRoute,
    FormDep,
    Viewer,
    ViewerDep,
    attempt,
    audit_action,
    redirect,
    render,
    text,
)
from tessera.errors import TesseraError, ValidationFailure
from tessera.projects import service as projects
from tessera.projects.models import Project
from tessera.secrets import folders as folder_service
from tessera.secrets import service as secret_service
from tessera.secrets.core import Ctx
from tessera.secrets.http import data_key_cache
from tessera.secrets.listing import ListQuery, list_secrets
from tessera.secrets.names import join_path, normalise_path, parent_path
from tessera.secrets.service import Address, SecretWrite

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
NAV = "projects"


def _ctx(session: Session, viewer: Viewer, context: Any) -> Ctx:
    return Ctx(session=session, principal=viewer.principal, data_keys=data_key_cache(context), now=viewer.now)


def _where(project_env_slugs: list[str], env: str | None, path: str | None) -> tuple[str, str]:
    """The environment (first one by default) and normalised folder path asked for.

    Raises:
        ValidationFailure: an unknown environment or an invalid path.
    """
    chosen = env or (project_env_slugs[0] if project_env_slugs else "")
    if chosen not in project_env_slugs:
        raise ValidationFailure("env", "There is no such environment in this project")
    return chosen, normalise_path(path or "/", field="path")


def _browser_url(project_id: str, env: str, path: str, notice: str) -> str:
    return f"/projects/{project_id}/secrets?" + urlencode({"env": env, "path": path, "notice": notice})


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """Pure: `/a/b` → [("/", "/"), ("a", "/a"), ("b", "/a/b")]."""
    crumbs = [("/", "/")]
    current = "/"
    for segment in [s for s in path.split("/") if s]:
        current = join_path(current, segment)
        crumbs.append((segment, current))
    return crumbs


def _browser(
    request: Request,
    session: Session,
    viewer: Viewer,
    context: Any,
    project: Project,
    env: str | None,
    path: str | None,
    *,
    revealed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    environments = projects.view(session, project).environments
    env_slug, folder = _where([e.slug for e in environments], env, path)
    ctx = _ctx(session, viewer, context)
    folders = folder_service.list_folders(ctx, project, env_slug, folder, recursive=False)
    listed = list_secrets(
        ctx, project, ListQuery(environment=env_slug, path=folder, view_value=False)
    ).secrets
    return render(
        request,
        "secrets.html",
        status=status,
        nav=NAV,
        tab="secrets",
        project=project,
        environments=environments,
        env=env_slug,
        path=folder,
        parent=parent_path(folder),
        crumbs=breadcrumbs(folder),
        folders=folders,
        secrets=listed,
        revealed=revealed or {},
        errors=errors or {},
        values=values or {},
    )


@router.get("/projects/{project_id}/secrets")
def secret_browser(
    request: Request, project_id: str, session: SessionDep, viewer: ViewerDep, context: ContextDep
) -> Response:
    project = projects.get_project(session, viewer.principal, project_id)
    query = request.query_params
    return _browser(request, session, viewer, context, project, query.get("env"), query.get("path"))


def _address(form: FormData) -> Address:
    return Address(
        environment=text(form, "env"),
        path=normalise_path(text(form, "path") or "/", field="path"),
        name=text(form, "name"),
    )


@router.post("/projects/{project_id}/secrets/reveal")
def reveal(
    request: Request,
    project_id: str,
    form: FormDep,
    session: SessionDep,
    viewer: ViewerDep,
    context: ContextDep,
) -> Response:
    project = projects.get_project(session, viewer.principal, project_id)
    at = _address(form)
    view = secret_service.get_secret(
        _ctx(session, viewer, context), project, at, ListQuery(environment=at.environment, path=at.path)
    )
    audit_action(
        session,
        viewer,
        "secret.reveal",
        projectId=project.id,
        environment=at.environment,
        path=at.path,
        name=at.name,
    )
    if request.headers.get("hx-request") == "true":
        return render(
            request,
            "_secret_value.html",
            name=at.name,
            value=view.value,
            hidden=view.hidden,
            index=text(form, "index"),
        )
    revealed = {} if view.hidden else {at.name: view.value}
    return _browser(request, session, viewer, context, project, at.environment, at.path, revealed=revealed)


@router.post("/projects/{project_id}/secrets/new")
def secret_create(
    request: Request,
    project_id: str,
    form: FormDep,
    session: SessionDep,
    viewer: ViewerDep,
    context: ContextDep,
) -> Response:
    project = projects.get_project(session, viewer.principal, project_id)
    env, path = text(form, "env"), text(form, "path") or "/"
    values = {"name": text(form, "name"), "comment": text(form, "comment")}
    value = str(form.get("value") or "")
    try:
        at = Address(environment=env, path=normalise_path(path, field="path"), name=values["name"])
        with attempt(session, viewer.ctx, viewer.now):
            secret_service.create_secret(
                _ctx(session, viewer, context),
                project,
                at,
                SecretWrite(value=value, comment=values["comment"]),
            )
    except TesseraError as exc:
        errors = {
            ("name" if k in ("secretName", "secretKey") else "value" if k == "secretValue" else k): v
            for k, v in service_errors(exc).items()
        }
        return _browser(
            request,
            session,
            viewer,
            context,
            project,
            env,
            path,
            errors=errors,
            values=values,
            status=exc.status_code,
        )
    audit_action(
        session, viewer, "secret.create", projectId=project.id, environment=env, path=at.path, name=at.name
    )
    return redirect(_browser_url(project_id, env, at.path, "created"))


@router.post("/projects/{project_id}/folders/new")
def folder_create(
    request: Request,
    project_id: str,
    form: FormDep,
    session: SessionDep,
    viewer: ViewerDep,
    context: ContextDep,
) -> Response:
    project = projects.get_project(session, viewer.principal, project_id)
    env, path, name = text(form, "env"), text(form, "path") or "/", text(form, "folder")
    try:
        parent = normalise_path(path, field="path")
        with attempt(session, viewer.ctx, viewer.now):
            folder_service.create_folder(_ctx(session, viewer, context), project, env, parent, name, None)
    except TesseraError as exc:
        errors = {("folder" if k == "name" else k): v for k, v in service_errors(exc).items()}
        return _browser(
            request,
            session,
            viewer,
            context,
            project,
            env,
            path,
            errors=errors,
            values={"folder": name},
            status=exc.status_code,
        )
    audit_action(
        session, viewer, "folder.create", projectId=project.id, environment=env, path=join_path(parent, name)
    )
    return redirect(_browser_url(project_id, env, parent, "created"))


@router.get("/projects/{project_id}/secrets/delete")
def secret_delete_confirm(
    request: Request, project_id: str, session: SessionDep, viewer: ViewerDep
) -> Response:
    project = projects.get_project(session, viewer.principal, project_id)
    query = request.query_params
    env, path, name = (
        query.get("env", ""),
        normalise_path(query.get("path") or "/", field="path"),
        query.get("name", ""),
    )
    return render(
        request,
        "secret_delete.html",
        nav=NAV,
        project=project,
        env=env,
        path=path,
        name=name,
    )


@router.post("/projects/{project_id}/secrets/delete")
def secret_delete(
    request: Request,
    project_id: str,
    form: FormDep,
    session: SessionDep,
    viewer: ViewerDep,
    context: ContextDep,
) -> Response:
    project = projects.get_project(session, viewer.principal, project_id)
    at = _address(form)
    secret_service.delete_secret(_ctx(session, viewer, context), project, at)
    audit_action(
        session,
        viewer,
        "secret.delete",
        projectId=project.id,
        environment=at.environment,
        path=at.path,
        name=at.name,
    )
    return redirect(_browser_url(project_id, at.environment, at.path, "deleted"), request=request)
