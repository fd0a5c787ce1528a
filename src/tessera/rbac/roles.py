"""Built-in roles as data (wire-form rules, parsed once at import like any constant table).

Organisation: admin, member, no-access (the default for new identities).
Project: admin, member, viewer, no-access (the default for a new project membership).

The viewer reads secret values (`describeSecret` + `readValue`), as in Infisical; Hanzo's
"describe only" viewer is not followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tessera.rbac.permissions import (
    CRUD,
    ORG_SUBJECTS,
    PROJECT_SUBJECTS,
    Rule,
    Scope,
    parse_rules,
)


@dataclass(frozen=True, slots=True)
class BuiltinRole:
    slug: str
    name: str
    description: str
    scope: Scope
    wire_rules: tuple[dict[str, Any], ...]
    rules: tuple[Rule, ...]


def _grant(subject: str, *actions: str) -> dict[str, Any]:
    return {"subject": subject, "action": list(actions)}


def _everything(subjects: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    return [_grant(subject, *actions) for subject, actions in subjects.items()]


_ORG_MEMBER = [
    _grant("workspace", "read", "create"),
    _grant("member", "read"),
    _grant("groups", "read"),
    _grant("role", "read"),
    _grant("settings", "read"),
    _grant("billing", "read"),
    _grant("incident-contact", "read"),
    _grant("secret-scanning", *CRUD),
    _grant("identity", *CRUD),
    _grant("audit-logs", "read"),
]

_PROJECT_MEMBER = [
    _grant("secrets", *PROJECT_SUBJECTS["secrets"]),
    _grant("secret-folders", *CRUD),
    _grant("secret-imports", *CRUD),
    _grant("dynamic-secrets", *PROJECT_SUBJECTS["dynamic-secrets"]),
    _grant("identity", *CRUD),
    _grant("member", "read", "create"),
    _grant("groups", "read"),
    _grant("role", "read"),
    _grant("audit-logs", "read"),
    _grant("ip-allowlist", "read"),
    *(
        _grant(s, *CRUD)
        for s in ("integrations", "webhooks", "service-tokens", "settings", "environments", "tags")
    ),
    _grant("secret-approval", "read"),
    _grant("secret-rotation", "read"),
    _grant("secret-rollback", "read", "create"),
    _grant("commits", "read"),
    _grant("workspace", "read"),
    _grant("cmek", *PROJECT_SUBJECTS["cmek"]),
]

_VIEWER_READS = (
    "secret-folders",
    "secret-imports",
    "secret-approval",
    "secret-rollback",
    "secret-rotation",
    "member",
    "groups",
    "role",
    "integrations",
    "webhooks",
    "identity",
    "service-tokens",
    "settings",
    "environments",
    "tags",
    "audit-logs",
    "ip-allowlist",
    "cmek",
    "commits",
    "workspace",
)
_PROJECT_VIEWER = [
    _grant("secrets", "describeSecret", "readValue"),
    _grant("dynamic-secrets", "read-root-credential"),
    *(_grant(subject, "read") for subject in _VIEWER_READS),
]


def _role(slug: str, name: str, description: str, scope: Scope, wire: list[dict[str, Any]]) -> BuiltinRole:
    return BuiltinRole(
        slug=slug,
        name=name,
        description=description,
        scope=scope,
        wire_rules=tuple(wire),
        rules=tuple(parse_rules(wire, scope)),
    )


ORG_ROLES: dict[str, BuiltinRole] = {
    role.slug: role
    for role in (
        _role(
            "admin",
            "Admin",
            "Full administrative access over the organization",
            "org",
            _everything(ORG_SUBJECTS),
        ),
        _role("member", "Member", "Limited read access and identity management", "org", _ORG_MEMBER),
        _role("no-access", "No Access", "No access to any organization resources", "org", []),
    )
}

PROJECT_ROLES: dict[str, BuiltinRole] = {
    role.slug: role
    for role in (
        _role(
            "admin",
            "Admin",
            "Full administrative access over a project",
            "project",
            _everything(PROJECT_SUBJECTS),
        ),
        _role("member", "Developer", "Limited read/write role in a project", "project", _PROJECT_MEMBER),
        _role("viewer", "Viewer", "Only read role in a project", "project", _PROJECT_VIEWER),
        _role("no-access", "No Access", "No access to any resources in the project", "project", []),
    )
}

NO_ACCESS = "no-access"
CUSTOM = "custom"  # the stored role value of a membership that points at a custom role


def builtin_roles(scope: Scope) -> dict[str, BuiltinRole]:
    return ORG_ROLES if scope == "org" else PROJECT_ROLES
