"""Pure translation between Infisical's JSON permission rules and the console's rule table.

Each table row is one rule: a subject, its actions, optional environment and secret-path
conditions, and whether it denies instead of allows. An environment written with glob
characters becomes `$glob`, a comma list `$in`, anything else `$eq`; a secret path is always a
`$glob`. Rows left without a subject are ignored, so the form can offer blank rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GLOB_CHARS = frozenset("*?[]{}")
CONDITION_FORM_FIELDS = ("environment", "secretPath")


@dataclass(slots=True)
class RuleRow:
    subject: str = ""
    actions: list[str] = field(default_factory=list)
    environment: str = ""
    secret_path: str = ""
    inverted: bool = False

    @property
    def is_blank(self) -> bool:
        return not self.subject


def _condition_text(value: Any) -> str:
    """A stored condition as people write it: bare value, glob, or comma-joined list."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for op in ("$eq", "$glob"):
            if isinstance(value.get(op), str):
                return str(value[op])
        listed = value.get("$in")
        if isinstance(listed, list):
            return ", ".join(str(item) for item in listed)
    return ""


def rows_from_rules(rules: list[dict[str, Any]]) -> list[RuleRow]:
    rows = []
    for rule in rules:
        actions = rule.get("action", [])
        conditions = rule.get("conditions") or {}
        rows.append(
            RuleRow(
                subject=str(rule.get("subject", "")),
                actions=[actions] if isinstance(actions, str) else [str(a) for a in actions],
                environment=_condition_text(conditions.get("environment")),
                secret_path=_condition_text(conditions.get("secretPath")),
                inverted=bool(rule.get("inverted", False)),
            )
        )
    return rows


def rows_from_form(form: Any, count: int) -> list[RuleRow]:
    """Rows `rule-<i>-…` of a submitted editor, in order, blanks included."""

    def one(index: int, name: str) -> str:
        value = form.get(f"rule-{index}-{name}", "")
        return value.strip() if isinstance(value, str) else ""

    return [
        RuleRow(
            subject=one(i, "subject"),
            actions=[a for a in form.getlist(f"rule-{i}-actions") if isinstance(a, str) and a],
            environment=one(i, "environment"),
            secret_path=one(i, "secretPath"),
            inverted=one(i, "inverted") == "true",
        )
        for i in range(count)
    ]


def _environment_condition(text: str) -> Any:
    if GLOB_CHARS & set(text):
        return {"$glob": text}
    parts = [part.strip() for part in text.split(",") if part.strip()]
    return {"$in": parts} if len(parts) > 1 else {"$eq": text}


def rules_from_rows(rows: list[RuleRow]) -> tuple[list[dict[str, Any]], list[int]]:
    """The wire rules for the non-blank rows, and for each rule the row it came from."""
    rules: list[dict[str, Any]] = []
    origin: list[int] = []
    for index, row in enumerate(rows):
        if row.is_blank:
            continue
        rule: dict[str, Any] = {"subject": row.subject, "action": row.actions, "inverted": row.inverted}
        conditions: dict[str, Any] = {}
        if row.environment:
            conditions["environment"] = _environment_condition(row.environment)
        if row.secret_path:
            conditions["secretPath"] = {"$glob": row.secret_path}
        if conditions:
            rule["conditions"] = conditions
        rules.append(rule)
        origin.append(index)
    return rules, origin


def row_errors(field_path: str, message: str, origin: list[int]) -> dict[str, str]:
    """A service error on `permissions.<rule>.<part>` → the editor field of the row it came from."""
    parts = field_path.split(".")
    if len(parts) < 2 or parts[0] != "permissions" or not parts[1].isdigit():
        return {"permissions": message}
    rule = int(parts[1])
    row = origin[rule] if rule < len(origin) else rule
    part = parts[2] if len(parts) > 2 else "subject"
    if part == "conditions":
        part = parts[3] if len(parts) > 3 and parts[3] in CONDITION_FORM_FIELDS else "environment"
    elif part == "action":
        part = "actions"
    return {f"rule-{row}-{part}": message}
