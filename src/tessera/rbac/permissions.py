"""Subjects, actions and condition fields as data, and the parsed form of Infisical's JSON rules.

A rule on the wire is `{subject, action: str | [str], conditions?: {field: value | {$op: value}},
inverted?: bool}`. `parse_rules` validates it against the tables below (unknown subject, action,
field or operator → `RuleError`, which the services turn into a 422) and produces `Rule` objects
whose conditions are pre-compiled, so evaluating them is pure and cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tessera.rbac.glob import Glob, InvalidPath, InvalidPattern, compile_glob, normalize_secret_path

Scope = Literal["org", "project"]

CRUD = ("read", "create", "edit", "delete")

ORG_SUBJECTS: dict[str, tuple[str, ...]] = {
    "workspace": ("read", "create"),
    "role": CRUD,
    "member": CRUD,
    "settings": CRUD,
    "incident-contact": CRUD,
    "sso": CRUD,
    "scim": CRUD,
    "ldap": CRUD,
    "groups": CRUD,
    "billing": CRUD,
    "secret-scanning": CRUD,
    "identity": (
        "read",
        "create",
        "edit",
        "delete",
        "grant-privileges",
        "revoke-auth",
        "create-token",
        "get-token",
        "delete-token",
    ),
    "kms": CRUD,
    "audit-logs": ("read",),
    "organization-admin-console": ("access-all-projects",),
    "app-connections": CRUD,
}

PROJECT_SUBJECTS: dict[str, tuple[str, ...]] = {
    "secrets": ("read", "describeSecret", "readValue", "create", "edit", "delete"),
    "secret-folders": CRUD,
    "secret-imports": CRUD,
    "dynamic-secrets": (
        "read-root-credential",
        "create-root-credential",
        "edit-root-credential",
        "delete-root-credential",
        "lease",
    ),
    "identity": (
        "read",
        "create",
        "edit",
        "delete",
        "grant-privileges",
        "assume-privileges",
        "revoke-auth",
        "create-token",
        "get-token",
        "delete-token",
    ),
    "member": CRUD,
    "groups": CRUD,
    "role": CRUD,
    "environments": CRUD,
    "tags": CRUD,
    "settings": CRUD,
    "webhooks": CRUD,
    "integrations": CRUD,
    "service-tokens": CRUD,
    "ip-allowlist": CRUD,
    "audit-logs": CRUD,
    "secret-approval": CRUD,
    "secret-rollback": ("read", "create"),
    "secret-rotation": CRUD,
    "commits": ("read", "perform-rollback"),
    "workspace": ("read", "edit", "delete"),
    "kms": ("edit",),
    "cmek": ("read", "create", "edit", "delete", "encrypt", "decrypt", "sign", "verify"),
}

_PATH_SCOPED = ("environment", "secretPath")
# Which fields a condition may name, per subject; subjects absent here take no conditions.
CONDITION_FIELDS: dict[str, tuple[str, ...]] = {
    "secrets": (*_PATH_SCOPED, "secretName", "secretTags"),
    "secret-folders": _PATH_SCOPED,
    "secret-imports": _PATH_SCOPED,
    "dynamic-secrets": _PATH_SCOPED,
    "identity": ("identityId",),
}
LIST_FIELDS = frozenset({"secretTags"})  # the checked value is a list: operators test its members

# A rule granting `read` on secrets grants both halves; a check for `read` needs both halves.
COMPOSITE_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("secrets", "read"): ("describeSecret", "readValue"),
}

OPERATORS = ("$eq", "$ne", "$in", "$glob")
MAX_RULES = 256
MAX_IN_VALUES = 256

# Field names a caller may pass in snake_case; the evaluator speaks the wire's camelCase.
FIELD_ALIASES = {
    "secret_path": "secretPath",
    "secret_name": "secretName",
    "secret_tags": "secretTags",
    "identity_id": "identityId",
}


def subjects_for(scope: Scope | None) -> dict[str, tuple[str, ...]]:
    if scope == "org":
        return ORG_SUBJECTS
    if scope == "project":
        return PROJECT_SUBJECTS
    merged = {name: tuple(actions) for name, actions in PROJECT_SUBJECTS.items()}
    for name, actions in ORG_SUBJECTS.items():
        merged[name] = tuple(dict.fromkeys((*merged.get(name, ()), *actions)))
    return merged


def expand_actions(subject: str, actions: Iterable[str]) -> frozenset[str]:
    expanded: set[str] = set()
    for action in actions:
        expanded.update(COMPOSITE_ACTIONS.get((subject, action), (action,)))
    return frozenset(expanded)


@dataclass(frozen=True, slots=True)
class Condition:
    """One operator on one field; a rule matches when all of its conditions hold."""

    field: str
    op: str
    value: str | frozenset[str] | Glob

    def test(self, checked: str | Sequence[str]) -> bool:
        if isinstance(checked, str):
            return self._test_one(checked)
        if self.op == "$ne":
            return all(self._test_one(item) for item in checked)
        return any(self._test_one(item) for item in checked)

    def _test_one(self, checked: str) -> bool:
        if self.op == "$eq":
            return checked == self.value
        if self.op == "$ne":
            return checked != self.value
        if self.op == "$in":
            assert isinstance(self.value, frozenset)
            return checked in self.value
        assert isinstance(self.value, Glob)
        return self.value.match(checked)

    def wire_value(self) -> Any:
        if isinstance(self.value, Glob):
            return self.value.source
        if isinstance(self.value, frozenset):
            return sorted(self.value)
        return self.value


@dataclass(frozen=True, slots=True)
class Rule:
    subject: str
    actions: frozenset[str]  # expanded (`read` on secrets → describeSecret, readValue)
    conditions: tuple[Condition, ...] = ()
    inverted: bool = False
    declared_actions: tuple[str, ...] = field(default=(), compare=False)

    def fields(self) -> dict[str, list[Condition]]:
        grouped: dict[str, list[Condition]] = {}
        for condition in self.conditions:
            grouped.setdefault(condition.field, []).append(condition)
        return grouped

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subject": self.subject,
            "action": list(self.declared_actions or sorted(self.actions)),
        }
        conditions = conditions_to_wire(self.conditions)
        if conditions:
            body["conditions"] = conditions
        body["inverted"] = self.inverted
        return body


def conditions_to_wire(conditions: Iterable[Condition]) -> dict[str, Any]:
    grouped: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        grouped.setdefault(condition.field, {})[condition.op] = condition.wire_value()
    # A lone equality is shown in its bare form, as it is usually written.
    return {name: ops["$eq"] if list(ops) == ["$eq"] else ops for name, ops in grouped.items()}


class RuleError(ValueError):
    """A permission rule that does not validate; `path` locates it inside the submitted list."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def parse_rules(data: Any, scope: Scope | None) -> list[Rule]:
    """Validate and compile a list of wire rules.

    Raises:
        RuleError: naming the offending element, e.g. `3.conditions.secretPath`.
    """
    if not isinstance(data, list):
        raise RuleError("", "permissions must be a list of rules")
    if len(data) > MAX_RULES:
        raise RuleError("", f"at most {MAX_RULES} rules are allowed")
    return [parse_rule(item, scope, path=str(index)) for index, item in enumerate(data)]


def parse_rule(data: Any, scope: Scope | None, *, path: str = "0") -> Rule:
    if not isinstance(data, Mapping):
        raise RuleError(path, "a rule must be an object")
    subject = data.get("subject")
    known = subjects_for(scope)
    if not isinstance(subject, str) or subject not in known:
        raise RuleError(f"{path}.subject", f"Unknown permission subject {subject!r}")
    actions = _parse_actions(data.get("action"), subject, known[subject], f"{path}.action")
    inverted = data.get("inverted", False)
    if not isinstance(inverted, bool):
        raise RuleError(f"{path}.inverted", "inverted must be a boolean")
    conditions = _parse_conditions(data.get("conditions"), subject, f"{path}.conditions")
    return Rule(
        subject=subject,
        actions=expand_actions(subject, actions),
        conditions=conditions,
        inverted=inverted,
        declared_actions=actions,
    )


def _parse_actions(raw: Any, subject: str, allowed: tuple[str, ...], path: str) -> tuple[str, ...]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values:
        raise RuleError(path, "action must be a string or a non-empty list of strings")
    for value in values:
        if not isinstance(value, str) or value not in allowed:
            raise RuleError(path, f"Unknown action {value!r} for subject {subject!r}")
    return tuple(dict.fromkeys(values))


def _parse_conditions(raw: Any, subject: str, path: str) -> tuple[Condition, ...]:
    if raw is None or raw == {}:
        return ()
    if not isinstance(raw, Mapping):
        raise RuleError(path, "conditions must be an object")
    allowed = CONDITION_FIELDS.get(subject, ())
    parsed: list[Condition] = []
    for name, spec in raw.items():
        if name not in allowed:
            raise RuleError(f"{path}.{name}", f"Subject {subject!r} takes no condition on {name!r}")
        operators = spec if isinstance(spec, Mapping) else {"$eq": spec}
        if not operators:
            raise RuleError(f"{path}.{name}", "a condition needs at least one operator")
        for op, value in operators.items():
            parsed.append(_parse_operator(name, op, value, f"{path}.{name}"))
    return tuple(parsed)


def _parse_operator(name: str, op: str, value: Any, path: str) -> Condition:
    if op not in OPERATORS:
        raise RuleError(f"{path}.{op}", f"Unsupported condition operator {op!r}")
    if op == "$in":
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise RuleError(f"{path}.{op}", "$in needs a non-empty list of strings")
        return Condition(name, op, frozenset(_field_value(name, item, f"{path}.{op}") for item in value))
    if op == "$glob":
        if not isinstance(value, str):
            raise RuleError(f"{path}.{op}", "$glob needs a string pattern")
        try:
            return Condition(name, op, compile_glob(value, path=name == "secretPath"))
        except InvalidPattern as exc:
            raise RuleError(f"{path}.{op}", str(exc)) from exc
    return Condition(name, op, _field_value(name, value, f"{path}.{op}"))


def _field_value(name: str, value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise RuleError(path, "condition values must be non-empty strings")
    if "{{" in value:
        raise RuleError(path, "condition templates are not supported")
    if name != "secretPath":
        return value
    if not value.startswith("/"):
        raise RuleError(path, "Invalid Secret Path; it must start with a '/'")
    try:
        return normalize_secret_path(value)
    except InvalidPath as exc:
        raise RuleError(path, str(exc)) from exc
