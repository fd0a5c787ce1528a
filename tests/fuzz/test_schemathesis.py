"""Schemathesis against the running server's own OpenAPI schema, on a real uvicorn server.

The server runs on 127.0.0.1 with a bootstrapped org admin. Two passes over every operation:

* random identifiers: every path parameter is whatever schemathesis makes up, so requests mostly
  stop at lookups, validation and permission checks;
* real objects: path parameters, `workspaceId` / `projectId` / `environment` point at a project,
  identity, role, folder, secret, tag, import, token and key created beforehand, so the fuzzed
  bodies and queries reach the services. Deletions run last so they do not starve the rest.

Each pass generates valid ("positive") and, where the operation has inputs beyond its path,
invalid ("negative") requests. Every response must be below 500, match the schema where the
schema declares one, carry X-Request-Id, and, as an error, be the Infisical envelope with no
stack trace. After any 401 the next request carries a newly minted admin token, because some
fuzzed calls revoke the caller's own tokens.

The example count is bounded (TESSERA_FUZZ_EXAMPLES, default 3 per operation and mode) and so
is the time (TESSERA_FUZZ_BUDGET seconds per pass); generation is derandomised unless
TESSERA_FUZZ_RANDOM=1, so CI runs the same cases every time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tessera.app import create_app
from tessera.clock import FrozenClock, utcnow
from tessera.store.engine import make_engine
from tests.conftest import BOOTSTRAP_BODY, make_settings
from tests.factories_auth import UA, create_identity, serve
from tests.rbac_helpers import new_token

pytestmark = pytest.mark.timeout(240)

EXAMPLES = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "3"))
BUDGET_SECONDS = float(os.environ.get("TESSERA_FUZZ_BUDGET", "45"))
DERANDOMIZE = os.environ.get("TESSERA_FUZZ_RANDOM") != "1"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
ENVELOPE_KEYS = {"reqId", "statusCode", "message", "error"}
# Responses that are not JSON errors by design: the body limit and method errors are still
# envelopes; only these operations answer non-envelope bodies for non-2xx statuses.
NON_ENVELOPE_ERRORS = {"GET /readyz"}


@dataclass
class Objects:
    """Real objects the second pass aims at, by path-parameter name."""

    org_id: str
    admin_identity_id: str
    values: dict[str, str] = field(default_factory=dict)

    def path_parameters(self, path: str, names: list[str]) -> dict[str, str]:
        chosen: dict[str, str] = {}
        for name in names:
            key = name
            if name == "secret_id" and "client-secrets" in path:
                key = "client_secret_id"
            if name == "slug" and "/roles/" in path:
                key = "role_slug"
            if name == "role_id" and "/organization" in path:
                key = "org_role_id"
            if name == "folder_id_or_name":
                key = "folder_name"
            if key in self.values:
                chosen[name] = self.values[key]
        return chosen


@dataclass
class Tally:
    cases: int = 0
    operations: int = 0
    skipped_for_time: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def summary(self) -> str:
        by_status = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.cases} cases over {self.operations} operations, "
            f"{len(self.failures)} failures, {self.skipped_for_time} operations skipped for time "
            f"(statuses {by_status})"
        )


@dataclass
class Server:
    base: str
    app: Any
    objects: Objects
    session: requests.Session

    token: str = ""

    def fresh_headers(self) -> dict[str, str]:
        """A new admin token (some fuzzed calls revoke the caller's own tokens)."""
        self.token = new_token(self.app, self.objects.admin_identity_id)
        return self.headers()

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token or new_token(self.app, self.objects.admin_identity_id)}"
        }


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("fuzz")
    path = directory / "fuzz.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    app = create_app(
        make_settings(url, directory / "data"),
        clock=FrozenClock(utcnow().replace(microsecond=0)),
        engine=engine,
    )
    with serve(app) as base, requests.Session() as session:
        objects = _create_objects(app, base)
        yield Server(base=base, app=app, objects=objects, session=session)
    engine.dispose()


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _create_objects(app: Any, base: str) -> Objects:
    with httpx.Client(base_url=base, timeout=30) as http:
        admin = _ok(http.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY))
        org_id = admin["organization"]["id"]
        headers = {"Authorization": f"Bearer {admin['identity']['credentials']['token']}"}
        objects = Objects(org_id=org_id, admin_identity_id=admin["identity"]["id"])
        values = objects.values
        values["org_id"] = org_id

        project = _ok(http.post("/api/v2/workspace", json={"projectName": "Fuzz"}, headers=headers))[
            "project"
        ]
        values.update(project_id=project["id"], project_ref=project["id"], slug=project["slug"])
        values["env_id"] = next(e["id"] for e in project["environments"] if e["slug"] == "staging")

        identity_id = create_identity(app, org_id, role="member", name="fuzz-target")
        values["identity_id"] = identity_id
        _ok(http.post(f"{UA}/identities/{identity_id}", json={}, headers=headers))
        secret = _ok(http.post(f"{UA}/identities/{identity_id}/client-secrets", json={}, headers=headers))
        values["client_secret_id"] = secret["clientSecretData"]["id"]
        token_auth = f"/api/v1/auth/token-auth/identities/{identity_id}"
        _ok(http.post(token_auth, json={}, headers=headers))
        values["token_id"] = _ok(http.post(f"{token_auth}/tokens", json={}, headers=headers))["tokenData"][
            "id"
        ]

        role = _ok(
            http.post(
                f"/api/v1/projects/{project['id']}/roles",
                json={"slug": "fuzz-role", "name": "Fuzz role", "permissions": []},
                headers=headers,
            )
        )["role"]
        values.update(role_id=role["id"], role_slug=role["slug"])
        org_role = _ok(
            http.post(
                f"/api/v1/organization/{org_id}/roles",
                json={"slug": "fuzz-org-role", "name": "Fuzz org role", "permissions": []},
                headers=headers,
            )
        )["role"]
        values["org_role_id"] = org_role["id"]
        _ok(
            http.post(
                f"/api/v2/workspace/{project['id']}/identity-memberships/{identity_id}",
                json={"roles": [{"role": "fuzz-role"}]},
                headers=headers,
            )
        )

        folder = _ok(
            http.post(
                "/api/v2/folders",
                json={"projectId": project["id"], "environment": "dev", "name": "app", "path": "/"},
                headers=headers,
            )
        )["folder"]
        values.update(folder_id=folder["id"], folder_name=folder["name"])
        created = _ok(
            http.post(
                "/api/v3/secrets/raw/DB_PASSWORD",
                json={"workspaceId": project["id"], "environment": "dev", "secretValue": "hunter2"},
                headers=headers,
            )
        )["secret"]
        values.update(secret_id=created["id"], secret_name="DB_PASSWORD", version="1")
        tag = _ok(http.post(f"/api/v1/projects/{project['id']}/tags", json={"slug": "fuzz"}, headers=headers))
        values["tag_id"] = next(iter(tag.values()))["id"]
        imported = _ok(
            http.post(
                "/api/v2/secret-imports",
                json={
                    "projectId": project["id"],
                    "environment": "prod",
                    "path": "/",
                    "import": {"environment": "dev", "path": "/"},
                },
                headers=headers,
            )
        )
        values["import_id"] = imported["secretImport"]["id"]
        key = _ok(
            http.post(
                "/api/v1/kms/keys", json={"projectId": project["id"], "name": "fuzz-key"}, headers=headers
            )
        )["key"]
        values.update(key_id=key["id"], key_name=key["name"])
    return objects


def _load_operations(server: Server) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 150, "the schema lost most of its operations"
    return operations


def _has_inputs(operation: Any) -> bool:
    return bool(operation.body) or any(p.location != "path" for p in operation.iter_parameters())


def _aim(case: Any, objects: Objects) -> Any:
    """Point project and environment fields of a generated case at the real project."""
    targets = {
        "workspaceId": objects.values["project_id"],
        "projectId": objects.values["project_id"],
        "environment": "dev",
    }
    for container in (case.query, case.body):
        if isinstance(container, dict):
            for name, value in targets.items():
                if name in container:
                    container[name] = value
    return case


def _extra_problems(label: str, response: requests.Response) -> list[str]:
    """What schemathesis does not check: request ids, the error envelope, no internals."""
    problems = []
    if not response.headers.get("x-request-id"):
        problems.append("no X-Request-Id header")
    text = response.text
    if "Traceback" in text or "sqlalchemy" in text.lower() or 'File "' in text:
        problems.append("internal details in the body")
    if response.status_code >= 400 and label not in NON_ENVELOPE_ERRORS:
        try:
            body = response.json()
        except json.JSONDecodeError:
            return [*problems, f"non-JSON error body for {response.status_code}"]
        if not isinstance(body, dict) or not body.keys() >= ENVELOPE_KEYS:
            problems.append(f"error body is not the envelope: {text[:200]}")
        elif body["statusCode"] != response.status_code:
            problems.append("envelope statusCode differs from the HTTP status")
    return problems


def _run_operation(server: Server, operation: Any, mode: GenerationMode, tally: Tally, aim: bool) -> None:
    objects = server.objects
    overrides: dict[str, Any] = {}
    if aim:
        names = [p.name for p in operation.iter_parameters() if p.location == "path"]
        path_parameters = objects.path_parameters(operation.path, names)
        if path_parameters:
            overrides["path_parameters"] = path_parameters
    strategy = operation.as_strategy(generation_mode=mode, **overrides)
    if aim:
        strategy = strategy.map(lambda case: _aim(case, objects))

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: Any) -> None:
        tally.cases += 1
        response = case.call(
            base_url=server.base, session=server.session, headers=server.headers(), timeout=15
        )
        if response.status_code == 401:
            server.fresh_headers()  # the call may have revoked the admin's token: the next one gets a new one
        tally.statuses[response.status_code] += 1
        label = f"{operation.label} [{mode.value}]"
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:
            tally.failures.append(f"{label}: {str(exc)[:600]}")
        tally.failures.extend(f"{label}: {p}" for p in _extra_problems(operation.label, response))

    # Unsatisfiable: e.g. no invalid input exists for this operation's parameters.
    with contextlib.suppress(Unsatisfiable):
        check()


def _fuzz(server: Server, *, aim: bool, order: Callable[[Any], Any] | None = None) -> Tally:
    tally = Tally()
    operations = _load_operations(server)
    if order is not None:
        operations.sort(key=order)
    started = time.monotonic()
    for operation in operations:
        if time.monotonic() - started > BUDGET_SECONDS:
            tally.skipped_for_time += 1
            continue
        tally.operations += 1
        modes = [GenerationMode.POSITIVE]
        if _has_inputs(operation):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            _run_operation(server, operation, mode, tally, aim)
    return tally


def _report(request: pytest.FixtureRequest, tally: Tally) -> None:
    request.node.user_properties.append(("fuzz", tally.summary()))
    print(f"\n{request.node.name}: {tally.summary()}")  # noqa: T201 - the count is part of the report


def test_schema_documents_real_responses(server: Server) -> None:
    """Regression: every 200 was documented as a string and every 422 as FastAPI's shape."""
    schema = httpx.get(f"{server.base}/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            ok = operation["responses"].get("200", {}).get("content", {}).get("application/json")
            if ok is not None:
                assert ok["schema"] != {"type": "string"}, f"{method} {path}"
            invalid = operation["responses"].get("422")
            if invalid is not None:
                ref = invalid["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorEnvelope"), f"{method} {path}"
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_fuzz_with_random_identifiers(server: Server, request: pytest.FixtureRequest) -> None:
    tally = _fuzz(server, aim=False)
    _report(request, tally)
    assert tally.cases > 150
    assert not tally.failures, "\n\n".join(tally.failures[:20])


def test_fuzz_against_real_objects(server: Server, request: pytest.FixtureRequest) -> None:
    tally = _fuzz(server, aim=True, order=lambda op: op.method.upper() == "DELETE")
    _report(request, tally)
    assert tally.cases > 150
    assert not tally.failures, "\n\n".join(tally.failures[:20])
    # The admin survived every fuzzed call (its token is minted fresh, but the identity must exist).
    assert httpx.get(f"{server.base}/api/v1/projects", headers=server.fresh_headers()).status_code == 200
