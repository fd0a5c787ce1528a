"""The pure evaluator: default deny, conditions, deny wins, composite `read`, explanations."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.errors import PermissionDenied
from tessera.rbac.evaluate import (
    ALLOWED,
    DENIED_BY_RULE,
    INVALID_PATH,
    NO_RULE,
    Grant,
    PermissionSet,
    allowed,
    explain,
)
from tessera.rbac.permissions import parse_rules
from tessera.rbac.roles import ORG_ROLES, PROJECT_ROLES

# The seed's example: read-only on staging under /config.
CONFIG_READER = [
    {
        "subject": "secrets",
        "action": ["read"],
        "conditions": {"environment": "staging", "secretPath": {"$glob": "/config/**"}},
    },
    {
        "subject": "secret-folders",
        "action": ["read"],
        "conditions": {"environment": "staging", "secretPath": {"$glob": "/config/**"}},
    },
]

CONFIG_READER_CASES = [
    ("read", "secrets", "staging", "/config/db", True),
    ("read", "secrets", "staging", "/config", True),
    ("read", "secrets", "staging", "/config/", True),
    ("readValue", "secrets", "staging", "/config/db/nested", True),
    ("describeSecret", "secrets", "staging", "/config/db", True),
    ("read", "secrets", "prod", "/config/db", False),
    ("read", "secrets", "dev", "/config/db", False),
    ("read", "secrets", "staging", "/other", False),
    ("read", "secrets", "staging", "/", False),
    ("read", "secrets", "staging", "/configuration", False),
    ("read", "secrets", "staging", "/config/../other", False),
    ("read", "secrets", "staging", "/config/%2e%2e/other", False),
    ("read", "secrets", "staging", "/config/./db", False),
    ("read", "secrets", "Staging", "/config/db", False),
    ("create", "secrets", "staging", "/config/db", False),
    ("edit", "secrets", "staging", "/config/db", False),
    ("delete", "secrets", "staging", "/config/db", False),
    ("read", "secret-folders", "staging", "/config", True),
    ("create", "secret-folders", "staging", "/config", False),
    ("read", "secret-imports", "staging", "/config", False),
]


@pytest.mark.parametrize(
    ("action", "subject", "environment", "path", "expected"),
    CONFIG_READER_CASES,
    ids=[f"{a}-{s}-{e}-{p}" for a, s, e, p, _ in CONFIG_READER_CASES],
)
def test_path_scoped_role(action: str, subject: str, environment: str, path: str, expected: bool) -> None:
    assert (
        allowed(CONFIG_READER, action, subject, {"environment": environment, "secretPath": path}) is expected
    )


def test_missing_field_does_not_satisfy_an_allow_condition() -> None:
    assert not allowed(CONFIG_READER, "read", "secrets", {"environment": "staging"})
    assert not allowed(CONFIG_READER, "read", "secrets", {})


def test_unconditional_rule_allows_everywhere() -> None:
    rules = [{"subject": "secrets", "action": "read"}]
    assert allowed(rules, "read", "secrets", {"environment": "prod", "secretPath": "/x"})
    assert allowed(rules, "read", "secrets")


def test_default_deny() -> None:
    decision = explain([], "read", "secrets", {"environment": "dev", "secretPath": "/"})
    assert (decision.allowed, decision.reason, decision.grant) == (False, NO_RULE, None)


def test_deny_wins_regardless_of_order() -> None:
    allow = {"subject": "secrets", "action": "read"}
    deny = {"subject": "secrets", "action": "read", "conditions": {"environment": "prod"}, "inverted": True}
    fields = {"environment": "prod", "secretPath": "/a"}
    for rules in ([allow, deny], [deny, allow]):
        decision = explain(rules, "read", "secrets", fields)
        assert not decision.allowed
        assert decision.reason == DENIED_BY_RULE
        assert decision.grant is not None
        assert decision.grant.rule.inverted
    assert allowed([allow, deny], "read", "secrets", {"environment": "dev", "secretPath": "/a"})


def test_deny_with_unknown_field_fails_closed() -> None:
    rules = [
        {"subject": "secrets", "action": "read"},
        {"subject": "secrets", "action": "read", "conditions": {"environment": "prod"}, "inverted": True},
    ]
    assert not allowed(rules, "read", "secrets", {"secretPath": "/a"})


def test_deny_on_half_of_read_denies_read() -> None:
    rules = [
        {"subject": "secrets", "action": "read"},
        {"subject": "secrets", "action": "readValue", "inverted": True},
    ]
    assert allowed(rules, "describeSecret", "secrets")
    assert not allowed(rules, "readValue", "secrets")
    decision = explain(rules, "read", "secrets")
    assert not decision.allowed
    assert decision.action == "readValue"


def test_describe_only_does_not_grant_read() -> None:
    rules = [{"subject": "secrets", "action": "describeSecret"}]
    assert allowed(rules, "describeSecret", "secrets")
    assert not allowed(rules, "read", "secrets")


@pytest.mark.parametrize(
    ("conditions", "fields", "expected"),
    [
        ({"environment": {"$ne": "prod"}}, {"environment": "dev"}, True),
        ({"environment": {"$ne": "prod"}}, {"environment": "prod"}, False),
        ({"environment": {"$in": ["dev", "staging"]}}, {"environment": "staging"}, True),
        ({"environment": {"$in": ["dev", "staging"]}}, {"environment": "prod"}, False),
        ({"environment": {"$glob": "dev-*"}}, {"environment": "dev-eu"}, True),
        ({"environment": {"$glob": "dev-*"}}, {"environment": "prod"}, False),
        ({"environment": {"$eq": "dev"}}, {"environment": "dev"}, True),
        ({"secretName": {"$glob": "DB_*"}}, {"secretName": "DB_URL"}, True),
        ({"secretName": {"$glob": "DB_*"}}, {"secretName": "API_KEY"}, False),
        ({"secretTags": {"$in": ["public"]}}, {"secretTags": ["a", "public"]}, True),
        ({"secretTags": {"$in": ["public"]}}, {"secretTags": ["a"]}, False),
        ({"secretTags": {"$ne": "private"}}, {"secretTags": ["a", "private"]}, False),
        ({"secretPath": {"$in": ["/a", "/b/"]}}, {"secretPath": "/b"}, True),
        ({"secretPath": "/a", "environment": "dev"}, {"secretPath": "/a", "environment": "prod"}, False),
    ],
)
def test_operators(conditions: dict[str, Any], fields: dict[str, Any], expected: bool) -> None:
    rules = [{"subject": "secrets", "action": "edit", "conditions": conditions}]
    assert allowed(rules, "edit", "secrets", fields) is expected


def test_identity_condition() -> None:
    rules = [{"subject": "identity", "action": "edit", "conditions": {"identityId": "abc"}}]
    assert allowed(rules, "edit", "identity", {"identityId": "abc"})
    assert not allowed(rules, "edit", "identity", {"identityId": "xyz"})


def test_invalid_path_is_denied_even_for_an_unconditional_allow() -> None:
    decision = explain(
        [{"subject": "secrets", "action": "read"}], "read", "secrets", {"secretPath": "/a/../b"}
    )
    assert (decision.allowed, decision.reason) == (False, INVALID_PATH)


def test_explain_names_the_deciding_rule_and_source() -> None:
    grants = [
        Grant(rule, "project-role:cfg", index)
        for index, rule in enumerate(parse_rules(CONFIG_READER, "project"))
    ]
    decision = explain(grants, "read", "secret-folders", {"environment": "staging", "secretPath": "/config"})
    assert decision.allowed
    assert decision.reason == ALLOWED
    wire = decision.to_wire()
    assert wire["decidingRule"]["source"] == "project-role:cfg"
    assert wire["decidingRule"]["index"] == 1
    assert wire["decidingRule"]["rule"]["subject"] == "secret-folders"


def test_permission_set_snake_case_fields_and_require() -> None:
    permissions = PermissionSet(tuple(Grant(rule) for rule in parse_rules(CONFIG_READER, "project")))
    assert permissions.can("read", "secrets", environment="staging", secret_path="/config/db")
    assert not permissions.can("read", "secrets", environment="staging", secret_path="/other")
    with pytest.raises(PermissionDenied) as caught:
        permissions.require("read", "secrets", environment="prod", secretPath="/config")
    assert caught.value.reason == NO_RULE
    assert "read on secrets" in caught.value.message


BUILTIN_MATRIX = [
    ("admin", "delete", "secrets", True),
    ("admin", "grant-privileges", "identity", True),
    ("member", "edit", "secrets", True),
    ("member", "create", "identity", True),
    ("member", "grant-privileges", "identity", False),
    ("member", "delete", "workspace", False),
    ("member", "create", "role", False),
    ("viewer", "read", "secrets", True),
    ("viewer", "readValue", "secrets", True),
    ("viewer", "edit", "secrets", False),
    ("viewer", "create", "secret-folders", False),
    ("viewer", "create", "identity", False),
    ("no-access", "read", "secrets", False),
    ("no-access", "read", "workspace", False),
]


@pytest.mark.parametrize(
    ("role", "action", "subject", "expected"),
    BUILTIN_MATRIX,
    ids=[f"{r}-{a}-{s}" for r, a, s, _ in BUILTIN_MATRIX],
)
def test_builtin_project_roles(role: str, action: str, subject: str, expected: bool) -> None:
    fields = {"environment": "prod", "secretPath": "/any/where"}
    assert allowed(PROJECT_ROLES[role].rules, action, subject, fields) is expected


@pytest.mark.parametrize(
    ("role", "action", "subject", "expected"),
    [
        ("admin", "create", "role", True),
        ("admin", "grant-privileges", "identity", True),
        ("member", "create", "identity", True),
        ("member", "read", "audit-logs", True),
        ("member", "grant-privileges", "identity", False),
        ("member", "create", "role", False),
        ("no-access", "read", "identity", False),
        ("no-access", "read", "workspace", False),
    ],
)
def test_builtin_org_roles(role: str, action: str, subject: str, expected: bool) -> None:
    assert allowed(ORG_ROLES[role].rules, action, subject) is expected
