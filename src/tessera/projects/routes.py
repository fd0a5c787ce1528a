"""Project and environment routes, in both the v1/v2 `workspace` and the newer `projects` forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tessera.api.deps import ContextDep, PrincipalDep, SessionDep
from tessera.clock import iso_js
from tessera.projects import service
from tessera.projects.models import Environment
from tessera.projects.schemas import (
    EnvironmentCreateIn,
    EnvironmentUpdateIn,
    ProjectCreateIn,
    ProjectUpdateIn,
)

router = APIRouter(tags=["projects"])


def environment_wire(env: Environment) -> dict[str, Any]:
    return {
        "id": env.id,
        "name": env.name,
        "slug": env.slug,
        "position": env.position,
        "projectId": env.project_id,
        "createdAt": iso_js(env.created_at),
        "updatedAt": iso_js(env.updated_at),
    }


def project_wire(view: service.ProjectView) -> dict[str, Any]:
    project = view.project
    return {
        "id": project.id,
        "_id": project.id,
        "name": project.name,
        "slug": project.slug,
        "description": project.description,
        "orgId": project.org_id,
        "organization": project.org_id,
        "type": project.type,
        "version": 3,
        "environments": [
            {"id": e.id, "name": e.name, "slug": e.slug, "position": e.position} for e in view.environments
        ],
        "createdAt": iso_js(project.created_at),
        "updatedAt": iso_js(project.updated_at),
    }


@router.post("/api/v2/workspace", summary="Create a project")
def create_workspace(
    body: ProjectCreateIn, session: SessionDep, principal: PrincipalDep, context: ContextDep
) -> dict[str, Any]:
    return {
        "project": project_wire(service.create_project(session, principal, body, now=context.clock.now()))
    }


@router.post("/api/v1/projects", summary="Create a project")
def create_project(
    body: ProjectCreateIn, session: SessionDep, principal: PrincipalDep, context: ContextDep
) -> dict[str, Any]:
    return {
        "project": project_wire(service.create_project(session, principal, body, now=context.clock.now()))
    }


@router.get("/api/v1/workspace", summary="List projects")
def list_workspaces(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"workspaces": [project_wire(v) for v in service.list_projects(session, principal)]}


@router.get("/api/v1/projects", summary="List projects")
def list_projects(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"projects": [project_wire(v) for v in service.list_projects(session, principal)]}


@router.get("/api/v1/projects/slug/{slug}", summary="Get a project by slug (answered at top level)")
def get_project_by_slug(slug: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return project_wire(service.view(session, service.get_project_by_slug(session, principal, slug)))


@router.get("/api/v1/workspace/{project_id}", summary="Get a project")
def get_workspace(project_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {
        "workspace": project_wire(service.view(session, service.get_project(session, principal, project_id)))
    }


@router.get("/api/v1/projects/{project_id}", summary="Get a project")
def get_project(project_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {
        "project": project_wire(service.view(session, service.get_project(session, principal, project_id)))
    }


@router.patch("/api/v1/workspace/{project_id}", summary="Update a project")
def update_workspace(
    project_id: str, body: ProjectUpdateIn, session: SessionDep, principal: PrincipalDep, context: ContextDep
) -> dict[str, Any]:
    view = service.update_project(session, principal, project_id, body, now=context.clock.now())
    return {"workspace": project_wire(view)}


@router.patch("/api/v1/projects/{project_id}", summary="Update a project")
def update_project(
    project_id: str, body: ProjectUpdateIn, session: SessionDep, principal: PrincipalDep, context: ContextDep
) -> dict[str, Any]:
    view = service.update_project(session, principal, project_id, body, now=context.clock.now())
    return {"project": project_wire(view)}


@router.delete("/api/v1/workspace/{project_id}", summary="Delete a project and everything in it")
def delete_workspace(project_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"workspace": project_wire(service.delete_project(session, principal, project_id))}


@router.delete("/api/v1/projects/{project_id}", summary="Delete a project and everything in it")
def delete_project(project_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"project": project_wire(service.delete_project(session, principal, project_id))}


def _env_response(message: str, view: service.ProjectView, env: Environment) -> dict[str, Any]:
    return {"message": message, "workspace": project_wire(view), "environment": environment_wire(env)}


for _prefix in ("/api/v1/workspace", "/api/v1/projects"):

    @router.get(f"{_prefix}/{{project_id}}/environments", summary="List environments")
    def list_environments(project_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
        view = service.view(session, service.get_project(session, principal, project_id))
        return {"environments": [environment_wire(e) for e in view.environments]}

    @router.post(f"{_prefix}/{{project_id}}/environments", summary="Create an environment")
    def create_environment(
        project_id: str,
        body: EnvironmentCreateIn,
        session: SessionDep,
        principal: PrincipalDep,
        context: ContextDep,
    ) -> dict[str, Any]:
        project, env = service.create_environment(
            session, principal, project_id, body, now=context.clock.now()
        )
        return _env_response("Successfully created new environment", service.view(session, project), env)

    @router.patch(f"{_prefix}/{{project_id}}/environments/{{env_id}}", summary="Update an environment")
    def update_environment(
        project_id: str,
        env_id: str,
        body: EnvironmentUpdateIn,
        session: SessionDep,
        principal: PrincipalDep,
        context: ContextDep,
    ) -> dict[str, Any]:
        project, env = service.update_environment(
            session, principal, project_id, env_id, body, now=context.clock.now()
        )
        return _env_response("Successfully updated environment", service.view(session, project), env)

    @router.delete(f"{_prefix}/{{project_id}}/environments/{{env_id}}", summary="Delete an environment")
    def delete_environment(
        project_id: str, env_id: str, session: SessionDep, principal: PrincipalDep
    ) -> dict[str, Any]:
        project, env = service.delete_environment(session, principal, project_id, env_id)
        return _env_response("Successfully deleted environment", service.view(session, project), env)
