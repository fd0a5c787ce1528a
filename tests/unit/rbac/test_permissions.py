"""Parsing Infisical's JSON rules: what is accepted, normalised, and refused (→ 422 upstream)."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.rbac.permissions import RuleError, parse_rule, parse_rules
from tessera.rbac.roles import ORG_ROLES, PROJECT_ROLES


def test_read_on_secrets_expands_to_both_halves() -> None:
    rule = parse_rule({"subject": "secrets", "action": "read"}, "project")
    assert rule.actions == frozenset({"describeSecret", "readValue"})
    assert rule.to_wire()["action"] == ["read"]


def test_conditions_are_normalised_on_the_way_in() -> None:
    rule = parse_rule(
        {
            "subject": "secrets",
            "action": ["describeSecret"],
            "conditions": {
                "environment": "staging",
                "secretPath": {"$glob": "/config/**", "$ne": "/config/x/"},
            },
        },
        "project",
    )
    wire = rule.to_wire()
    assert wire["conditions"] == {
        "environment": "staging",
        "secretPath": {"$glob": "/config/**", "$ne": "/config/x"},
    }
    assert wire["inverted"] is False


def test_in_operator_and_inverted_rule() -> None:
    rule = parse_rule(
        {
            "subject": "secrets",
            "action": "edit",
            "conditions": {"environment": {"$in": ["dev", "staging"]}},
            "inverted": True,
        },
        "project",
    )
    assert rule.inverted
    assert rule.to_wire()["conditions"] == {"environment": {"$in": ["dev", "staging"]}}


def test_unknown_keys_in_a_rule_are_ignored() -> None:
    rule = parse_rule({"subject": "secrets", "action": "edit", "reason": "x", "fields": ["a"]}, "project")
    assert rule.subject == "secrets"


BAD_RULES: list[tuple[str, Any, str]] = [
    ("not-a-list", {"subject": "secrets"}, ""),
    ("rule-not-object", ["secrets"], "0"),
    ("unknown-subject", [{"subject": "rockets", "action": "read"}], "0.subject"),
    ("missing-subject", [{"action": "read"}], "0.subject"),
    ("unknown-action", [{"subject": "secrets", "action": "launch"}], "0.action"),
    ("empty-action-list", [{"subject": "secrets", "action": []}], "0.action"),
    ("action-not-string", [{"subject": "secrets", "action": [1]}], "0.action"),
    ("org-subject-in-project", [{"subject": "billing", "action": "read"}], "0.subject"),
    ("inverted-not-bool", [{"subject": "secrets", "action": "read", "inverted": "yes"}], "0.inverted"),
    (
        "conditions-not-object",
        [{"subject": "secrets", "action": "read", "conditions": ["x"]}],
        "0.conditions",
    ),
    (
        "condition-on-unconditioned-subject",
        [{"subject": "role", "action": "read", "conditions": {"environment": "dev"}}],
        "0.conditions.environment",
    ),
    (
        "unknown-field",
        [{"subject": "secrets", "action": "read", "conditions": {"owner": "me"}}],
        "0.conditions.owner",
    ),
    (
        "unknown-operator",
        [{"subject": "secrets", "action": "read", "conditions": {"environment": {"$regex": ".*"}}}],
        "0.conditions.environment.$regex",
    ),
    (
        "path-without-slash",
        [{"subject": "secrets", "action": "read", "conditions": {"secretPath": "config"}}],
        "0.conditions.secretPath.$eq",
    ),
    (
        "glob-path-without-slash",
        [{"subject": "secrets", "action": "read", "conditions": {"secretPath": {"$glob": "config/**"}}}],
        "0.conditions.secretPath.$glob",
    ),
    (
        "path-with-dotdot",
        [{"subject": "secrets", "action": "read", "conditions": {"secretPath": {"$eq": "/config/../x"}}}],
        "0.conditions.secretPath.$eq",
    ),
    (
        "in-not-list",
        [{"subject": "secrets", "action": "read", "conditions": {"environment": {"$in": "dev"}}}],
        "0.conditions.environment.$in",
    ),
    (
        "value-not-string",
        [{"subject": "secrets", "action": "read", "conditions": {"environment": 3}}],
        "0.conditions.environment.$eq",
    ),
    (
        "template",
        [{"subject": "identity", "action": "read", "conditions": {"identityId": "{{identity.id}}"}}],
        "0.conditions.identityId.$eq",
    ),
    (
        "empty-operator-object",
        [{"subject": "secrets", "action": "read", "conditions": {"environment": {}}}],
        "0.conditions.environment",
    ),
]


@pytest.mark.parametrize(
    ("data", "path"), [(d, p) for _, d, p in BAD_RULES], ids=[i for i, _, _ in BAD_RULES]
)
def test_bad_rules_are_refused_with_their_location(data: Any, path: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(data, "project")
    assert caught.value.path == path


def test_org_scope_rejects_project_subjects() -> None:
    with pytest.raises(RuleError):
        parse_rules([{"subject": "secrets", "action": "read"}], "org")


def test_too_many_rules() -> None:
    with pytest.raises(RuleError):
        parse_rules([{"subject": "secrets", "action": "read"}] * 257, "project")


def test_builtin_roles_are_valid_rules() -> None:
    for role in (*ORG_ROLES.values(), *PROJECT_ROLES.values()):
        assert parse_rules(list(role.wire_rules), role.scope) == list(role.rules)
    assert ORG_ROLES["no-access"].rules == ()
    assert PROJECT_ROLES["no-access"].rules == ()
