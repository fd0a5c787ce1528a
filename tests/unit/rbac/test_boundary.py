"""The privilege boundary: a holder can hand out only what it holds, conditions included."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.rbac.boundary import missing_permissions
from tessera.rbac.permissions import parse_rules
from tessera.rbac.roles import ORG_ROLES, PROJECT_ROLES


def _missing(holder: list[dict[str, Any]], target: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return missing_permissions(parse_rules(holder, "project"), parse_rules(target, "project"))


def _secrets(actions: Any, **conditions: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"subject": "secrets", "action": actions}
    if conditions:
        rule["conditions"] = conditions
    return rule


STAGING_CONFIG = _secrets("read", environment="staging", secretPath={"$glob": "/config/**"})

CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], bool]] = [
    ("same-rule", [STAGING_CONFIG], [STAGING_CONFIG], True),
    (
        "narrower-path",
        [STAGING_CONFIG],
        [_secrets("read", environment="staging", secretPath={"$glob": "/config/db/**"})],
        True,
    ),
    (
        "exact-path-inside",
        [STAGING_CONFIG],
        [_secrets("read", environment="staging", secretPath="/config/db")],
        True,
    ),
    (
        "fewer-actions",
        [STAGING_CONFIG],
        [_secrets("describeSecret", environment="staging", secretPath="/config")],
        True,
    ),
    (
        "wider-path",
        [STAGING_CONFIG],
        [_secrets("read", environment="staging", secretPath={"$glob": "/**"})],
        False,
    ),
    (
        "sibling-path",
        [STAGING_CONFIG],
        [_secrets("read", environment="staging", secretPath={"$glob": "/other/**"})],
        False,
    ),
    (
        "prefix-trick",
        [STAGING_CONFIG],
        [_secrets("read", environment="staging", secretPath={"$glob": "/config*/**"})],
        False,
    ),
    (
        "other-env",
        [STAGING_CONFIG],
        [_secrets("read", environment="prod", secretPath={"$glob": "/config/**"})],
        False,
    ),
    ("no-env-condition", [STAGING_CONFIG], [_secrets("read", secretPath={"$glob": "/config/**"})], False),
    ("unconditional", [STAGING_CONFIG], [_secrets("read")], False),
    (
        "more-actions",
        [STAGING_CONFIG],
        [_secrets(["read", "edit"], environment="staging", secretPath="/config")],
        False,
    ),
    (
        "env-in-subset",
        [_secrets("edit", environment={"$in": ["dev", "staging"]})],
        [_secrets("edit", environment="dev")],
        True,
    ),
    (
        "env-in-superset",
        [_secrets("edit", environment={"$in": ["dev"]})],
        [_secrets("edit", environment={"$in": ["dev", "prod"]})],
        False,
    ),
    (
        "env-glob",
        [_secrets("edit", environment={"$glob": "dev-*"})],
        [_secrets("edit", environment="dev-eu")],
        True,
    ),
    (
        "env-ne-covers-eq",
        [_secrets("edit", environment={"$ne": "prod"})],
        [_secrets("edit", environment="dev")],
        True,
    ),
    (
        "env-ne-vs-eq-prod",
        [_secrets("edit", environment={"$ne": "prod"})],
        [_secrets("edit", environment="prod")],
        False,
    ),
    (
        "env-ne-same",
        [_secrets("edit", environment={"$ne": "prod"})],
        [_secrets("edit", environment={"$ne": "prod"})],
        True,
    ),
    ("unconditional-covers-all", [_secrets(["read", "edit"])], [STAGING_CONFIG], True),
    ("deny-only-target-is-free", [], [{**_secrets("read"), "inverted": True}], True),
    (
        "holder-deny-overlaps",
        [_secrets("read"), {**_secrets("read", environment="prod"), "inverted": True}],
        [_secrets("read")],
        False,
    ),
    (
        "holder-deny-disjoint",
        [_secrets("read"), {**_secrets("read", environment="prod"), "inverted": True}],
        [_secrets("read", environment="dev")],
        True,
    ),
    (
        "holder-deny-path-disjoint",
        [_secrets("read"), {**_secrets("read", secretPath={"$glob": "/private/**"}), "inverted": True}],
        [_secrets("read", secretPath={"$glob": "/public/**"})],
        True,
    ),
    (
        "holder-deny-also-denied-by-target",
        [_secrets("read"), {**_secrets("read", environment="prod"), "inverted": True}],
        [_secrets("read"), {**_secrets("read", environment="prod"), "inverted": True}],
        True,
    ),
    (
        "holder-deny-wider-than-target-deny",
        [_secrets("read"), {**_secrets("read", environment={"$in": ["prod", "staging"]}), "inverted": True}],
        [_secrets("read"), {**_secrets("read", environment="prod"), "inverted": True}],
        False,
    ),
    ("other-subject", [_secrets("read")], [{"subject": "secret-folders", "action": "read"}], False),
]


@pytest.mark.parametrize(("holder", "target", "grantable"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_boundary(holder: list[dict[str, Any]], target: list[dict[str, Any]], grantable: bool) -> None:
    assert (not _missing(holder, target)) is grantable


def test_missing_lists_subject_action_and_conditions() -> None:
    missing = _missing(
        [STAGING_CONFIG], [_secrets(["read", "edit"], environment="staging", secretPath="/config")]
    )
    assert missing == [
        {
            "subject": "secrets",
            "action": "edit",
            "conditions": {"environment": "staging", "secretPath": "/config"},
        }
    ]


@pytest.mark.parametrize(
    ("holder", "target", "grantable"),
    [
        ("admin", "admin", True),
        ("admin", "member", True),
        ("member", "member", True),
        ("member", "admin", False),
        ("no-access", "member", False),
    ],
)
def test_org_roles(holder: str, target: str, grantable: bool) -> None:
    assert (not missing_permissions(ORG_ROLES[holder].rules, ORG_ROLES[target].rules)) is grantable


@pytest.mark.parametrize(
    ("holder", "target", "grantable"),
    [
        ("admin", "member", True),
        ("admin", "viewer", True),
        ("member", "viewer", True),
        ("member", "member", True),
        ("member", "admin", False),
        ("viewer", "member", False),
        ("viewer", "viewer", True),
    ],
)
def test_project_roles(holder: str, target: str, grantable: bool) -> None:
    assert (not missing_permissions(PROJECT_ROLES[holder].rules, PROJECT_ROLES[target].rules)) is grantable
