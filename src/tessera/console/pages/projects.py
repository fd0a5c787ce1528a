"""Projects: list and create."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from tessera.api.deps import SessionDep
from tessera.console.forms import pydantic_errors, service_errors
from tessera.console.web import (
    ConsoleRoute,
    FormDep,
    ViewerDep,
    attempt,
    audit_action,
    redirect,
    render,
    text,
)
from tessera.errors import TesseraError
from tessera.projects import service as projects
from tessera.projects.schemas import ProjectCreateIn

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/projects")
def project_list(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    views = projects.list_projects(session, viewer.principal)
    return render(request, "projects.html", nav="projects", projects=views)


@router.get("/projects/new")
def project_form(request: Request, viewer: ViewerDep) -> Response:
    return render(request, "project_new.html", nav="projects", values={})


@router.post("/projects/new")
def project_create(request: Request, form: FormDep, session: SessionDep, viewer: ViewerDep) -> Response:
    values = {
        "projectName": text(form, "projectName"),
        "projectDescription": text(form, "projectDescription"),
    }
    try:
        body = ProjectCreateIn.model_validate(
            {"projectName": values["projectName"], "projectDescription": values["projectDescription"] or None}
        )
        with attempt(session, viewer.ctx, viewer.now):
            created = projects.create_project(session, viewer.principal, body, now=viewer.now)
    except ValidationError as exc:
        return render(
            request,
            "project_new.html",
            status=422,
            nav="projects",
            values=values,
            errors=pydantic_errors(exc),
        )
    except TesseraError as exc:
        return render(
            request,
            "project_new.html",
            status=exc.status_code,
            nav="projects",
            values=values,
            errors=service_errors(exc),
        )
    audit_action(session, viewer, "project.create", projectId=created.project.id)
    return redirect(f"/projects/{created.project.id}?notice=created")


@router.get("/projects/{project_id}")
def project_home(request: Request, project_id: str, session: SessionDep, viewer: ViewerDep) -> Response:
    project = projects.get_project(session, viewer.principal, project_id)
    view = projects.view(session, project)
    return render(
        request,
        "project.html",
        nav="projects",
        project=project,
        environments=view.environments,
        tab="overview",
    )
