"""The catalogue's fixture world (§2.0) for the path-scope, input and leakage cases.

Project P1 (dev, staging, prod) and project P2; identity I_ua whose only access is a P1 role that
allows every secrets and folder action in `dev:/app/**` and denies them in `dev:/app/private/**`;
canary secrets at dev:/app/db_pw, dev:/app/private/k, prod:/app/db_pw and dev:/admin/root, plus
one in P2. Canary values are random, so a scan can look for them anywhere.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from tests.api.secrets_support import Secrets, restricted_headers
from tests.conftest import Admin

ACTIONS = ["read", "describeSecret", "readValue", "create", "edit", "delete"]
FOLDER_ACTIONS = ["read", "create", "edit", "delete"]


def rule(
    subject: str, actions: list[str], glob: str, *, env: str = "dev", inverted: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": subject,
        "action": actions,
        "conditions": {"environment": env, "secretPath": {"$glob": glob}},
    }
    if inverted:
        body["inverted"] = True
    return body


I_UA_RULES = [
    rule("secrets", ACTIONS, "/app/**"),
    rule("secret-folders", FOLDER_ACTIONS, "/app/**"),
    rule("secrets", ACTIONS, "/app/private/**", inverted=True),
    rule("secret-folders", FOLDER_ACTIONS, "/app/private/**", inverted=True),
]


@dataclass
class Scene:
    client: TestClient
    app: Any
    admin: Admin
    p1: dict[str, Any]
    p2: dict[str, Any]
    ua_headers: dict[str, str]
    canaries: dict[str, str] = field(default_factory=dict)  # "env:/path/name" → value
    ids: dict[str, str] = field(default_factory=dict)  # "env:/path/name" → secret id

    @property
    def admin_p1(self) -> Secrets:
        return Secrets(self.client, self.p1["id"], self.admin.headers)

    @property
    def admin_p2(self) -> Secrets:
        return Secrets(self.client, self.p2["id"], self.admin.headers)

    @property
    def ua(self) -> Secrets:
        return Secrets(self.client, self.p1["id"], self.ua_headers)

    def ua_in(self, project: dict[str, Any]) -> Secrets:
        return Secrets(self.client, project["id"], self.ua_headers)

    def values(self) -> list[str]:
        return list(self.canaries.values())


def _project(client: TestClient, admin: Admin, name: str) -> dict[str, Any]:
    response = client.post("/api/v2/workspace", json={"projectName": name}, headers=admin.headers)
    assert response.status_code == 200, response.text
    project: dict[str, Any] = response.json()["project"]
    return project


def build(client: TestClient, app: Any, admin: Admin) -> Scene:
    p1, p2 = _project(client, admin, "P1"), _project(client, admin, "P2")
    headers = restricted_headers(client, app, admin, p1["id"], I_UA_RULES, slug="i-ua")
    scene = Scene(client=client, app=app, admin=admin, p1=p1, p2=p2, ua_headers=headers)
    s1 = scene.admin_p1
    for env in ("dev", "prod"):
        s1.folder("app", env=env)
    s1.folder("private", path="/app")
    s1.folder("admin")
    for env, path, name in [
        ("dev", "/app", "db_pw"),
        ("dev", "/app/private", "k"),
        ("prod", "/app", "db_pw"),
        ("dev", "/admin", "root"),
    ]:
        value = f"canary-{secrets.token_hex(12)}"
        secret = s1.ok(name, value, env=env, path=path)
        scene.canaries[f"{env}:{path}/{name}"] = value
        scene.ids[f"{env}:{path}/{name}"] = secret["id"]
    scene.admin_p2.folder("app")
    value = f"canary-{secrets.token_hex(12)}"
    secret = scene.admin_p2.ok("db_pw", value, path="/app")
    scene.canaries["p2:dev:/app/db_pw"] = value
    scene.ids["p2:dev:/app/db_pw"] = secret["id"]
    return scene


def assert_canaries_intact(scene: Scene) -> None:
    """NL(a): every canary still decrypts to its original value."""
    for key, value in scene.canaries.items():
        project = scene.admin_p2 if key.startswith("p2:") else scene.admin_p1
        env, rest = key.removeprefix("p2:").split(":", 1)
        path, name = rest.rsplit("/", 1)
        response = project.get(name, env=env, path=path or "/")
        assert response.status_code == 200, (key, response.text)
        assert response.json()["secret"]["secretValue"] == value, key
