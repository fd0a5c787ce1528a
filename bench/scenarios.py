"""What the benchmark measures: one Scenario per endpoint. Add new endpoints to SCENARIOS.

A scenario names a request. When it needs data that must exist first (a project, a secret), its
`prepare` function creates that data through the API before the load starts and returns values
that are substituted into `path` and `body` ("{project_id}" style placeholders).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class BenchContext:
    """What a scenario's `prepare` may use: an API client already carrying the admin token."""

    base_url: str
    token: str
    api: httpx.Client
    # Shared between scenarios, so that e.g. one project serves several of them.
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    method: str = "GET"
    authenticated: bool = False
    body: str | None = None  # JSON text, may hold placeholders
    prepare: Callable[[BenchContext], dict[str, str]] | None = None
    description: str = ""

    def resolved(self, context: BenchContext) -> tuple[str, str | None]:
        """The path and body with the values from `prepare` filled in."""
        values = self.prepare(context) if self.prepare else {}
        body = self.body.format(**values) if self.body else None
        return self.path.format(**values), body


SCENARIOS: list[Scenario] = [
    Scenario(
        name="status",
        path="/api/status",
        description="Unauthenticated probe the Infisical clients call; no database work.",
    ),
    Scenario(
        name="workspace-list",
        path="/api/v1/workspace",
        authenticated=True,
        description="Authenticated read: token check with its use-count UPDATE, then a project list.",
    ),
]


def _secrets_project(context: BenchContext) -> dict[str, str]:
    """A project holding 100 secrets in dev:/ (created once, shared by the secrets scenarios)."""
    if "secrets_project_id" not in context.state:
        project = context.api.post("/api/v2/workspace", json={"projectName": "Bench secrets"})
        project.raise_for_status()
        project_id = project.json()["project"]["id"]
        items = [{"secretKey": f"BENCH_{i:03d}", "secretValue": f"value-{i:03d}"} for i in range(100)]
        created = context.api.post(
            "/api/v3/secrets/batch/raw",
            json={"workspaceId": project_id, "environment": "dev", "secretPath": "/", "secrets": items},
        )
        created.raise_for_status()
        context.state["secrets_project_id"] = project_id
    return {"project_id": context.state["secrets_project_id"]}


SCENARIOS += [
    Scenario(
        name="secret-read",
        path="/api/v3/secrets/raw/BENCH_042?workspaceId={project_id}&environment=dev&secretPath=/",
        authenticated=True,
        prepare=_secrets_project,
        description="One secret by name: token check, permission, one indexed query, one AES-GCM open.",
    ),
    Scenario(
        name="secret-list-100",
        path="/api/v3/secrets/raw?workspaceId={project_id}&environment=dev&secretPath=/",
        authenticated=True,
        prepare=_secrets_project,
        description="A folder of 100 secrets: one query, 100 AES-GCM opens and permission filters.",
    ),
]
