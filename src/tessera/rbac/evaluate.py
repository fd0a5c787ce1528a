"""THE permission evaluator: pure, one decision procedure for every request.

Rules
* Default deny: nothing is allowed unless a rule allows it.
* An allow rule applies when its subject and action match and every condition holds for the
  checked fields. A condition on a field the check does not supply does not hold.
* An inverted (deny) rule applies when its subject and action match and every condition holds
  *or names a field the check does not supply* (fail closed). Any applicable deny wins over
  every allow, whatever the order of the rules (Infisical's CASL would let a later allow override
  an earlier deny; Tessera does not).
* `secretPath` is normalised before matching; a path that cannot be normalised (`..`, encoded
  characters…) is denied outright.
* A check for `read` on `secrets` needs both `describeSecret` and `readValue`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera.errors import PermissionDenied
from tessera.rbac.glob import InvalidPath, normalize_secret_path
from tessera.rbac.permissions import COMPOSITE_ACTIONS, FIELD_ALIASES, Rule, parse_rule

Fields = Mapping[str, str | Sequence[str] | None]


@dataclass(frozen=True, slots=True)
class Grant:
    """A rule and where it came from (which role), so a decision can be explained."""

    rule: Rule
    source: str = "rules"
    index: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"source": self.source, "index": self.index, "rule": self.rule.to_wire()}


ALLOWED = "allowed"
DENIED_BY_RULE = "denied_by_inverted_rule"
NO_RULE = "no_matching_rule"
INVALID_PATH = "invalid_secret_path"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    grant: Grant | None = None
    action: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "action": self.action,
            "decidingRule": self.grant.to_wire() if self.grant is not None else None,
        }


def as_grants(rules: Iterable[Grant | Rule | Mapping[str, Any]]) -> tuple[Grant, ...]:
    grants: list[Grant] = []
    for index, item in enumerate(rules):
        if isinstance(item, Grant):
            grants.append(item)
        elif isinstance(item, Rule):
            grants.append(Grant(item, "rules", index))
        else:
            grants.append(Grant(parse_rule(item, None, path=str(index)), "rules", index))
    return tuple(grants)


def normalize_fields(fields: Fields | None) -> dict[str, str | tuple[str, ...]]:
    """Drop absent values, accept snake_case names, normalise the secret path.

    Raises:
        InvalidPath: the secret path is not acceptable.
    """
    result: dict[str, str | tuple[str, ...]] = {}
    for name, value in (fields or {}).items():
        if value is None:
            continue
        key = FIELD_ALIASES.get(name, name)
        result[key] = value if isinstance(value, str) else tuple(value)
    path = result.get("secretPath")
    if path is not None:
        if not isinstance(path, str):
            raise InvalidPath("secret path must be a string")
        result["secretPath"] = normalize_secret_path(path)
    return result


def _applies(rule: Rule, fields: Mapping[str, str | tuple[str, ...]]) -> bool:
    for condition in rule.conditions:
        value = fields.get(condition.field)
        if value is None:
            if not rule.inverted:
                return False
            continue  # a deny whose field is unknown still applies: fail closed
        if not condition.test(value):
            return False
    return True


def _decide_one(
    grants: Sequence[Grant], action: str, subject: str, fields: Mapping[str, str | tuple[str, ...]]
) -> Decision:
    relevant = [g for g in grants if g.rule.subject == subject and action in g.rule.actions]
    for grant in relevant:
        if grant.rule.inverted and _applies(grant.rule, fields):
            return Decision(False, DENIED_BY_RULE, grant, action)
    for grant in relevant:
        if not grant.rule.inverted and _applies(grant.rule, fields):
            return Decision(True, ALLOWED, grant, action)
    return Decision(False, NO_RULE, None, action)


def explain(
    rules: Iterable[Grant | Rule | Mapping[str, Any]], action: str, subject: str, fields: Fields | None = None
) -> Decision:
    """Decide and say why: the deciding rule (and its source) or that no rule allows it."""
    grants = as_grants(rules)
    try:
        normalized = normalize_fields(fields)
    except InvalidPath:
        return Decision(False, INVALID_PATH, None, action)
    decision = Decision(False, NO_RULE, None, action)
    for part in COMPOSITE_ACTIONS.get((subject, action), (action,)):
        decision = _decide_one(grants, part, subject, normalized)
        if not decision.allowed:
            return decision
    return decision


def allowed(
    rules: Iterable[Grant | Rule | Mapping[str, Any]], action: str, subject: str, fields: Fields | None = None
) -> bool:
    return explain(rules, action, subject, fields).allowed


@dataclass(frozen=True, slots=True)
class PermissionSet:
    """Everything one identity may do in one scope (an org, or a project), ready to ask."""

    grants: tuple[Grant, ...] = ()

    def explain(self, action: str, subject: str, **fields: str | Sequence[str] | None) -> Decision:
        return explain(self.grants, action, subject, fields)

    def can(self, action: str, subject: str, **fields: str | Sequence[str] | None) -> bool:
        return explain(self.grants, action, subject, fields).allowed

    def require(self, action: str, subject: str, **fields: str | Sequence[str] | None) -> None:
        """Raises PermissionDenied (403, with the reason for the audit log only) unless allowed."""
        decision = explain(self.grants, action, subject, fields)
        if not decision.allowed:
            raise PermissionDenied(f"You are not allowed to {action} on {subject}", reason=decision.reason)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(grant.rule for grant in self.grants)
