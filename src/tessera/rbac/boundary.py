"""The privilege boundary, pure: may a holder hand out these rules? Nobody grants more than they hold.

For every (subject, action) an allow rule of the target grants, over the region its conditions
describe, the holder must be allowed everywhere in that region:

* some allow rule of the holder must cover the region (each of its conditions is implied by the
  target's conditions on the same field), and
* no deny rule of the holder may overlap the region, unless the target denies that part too.

The reasoning about conditions is conservative: when it cannot prove coverage (or disjointness)
it answers "missing", so the boundary can be too strict but never too lax.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tessera.rbac.evaluate import Grant
from tessera.rbac.glob import Glob, disjoint, subsumes
from tessera.rbac.permissions import LIST_FIELDS, Condition, Rule, conditions_to_wire


def _finite_candidates(conditions: Sequence[Condition]) -> set[str] | None:
    """The values the conditions can take, when $eq/$in make that a finite set (else None)."""
    candidates: set[str] | None = None
    for condition in conditions:
        if condition.op == "$eq":
            values = {str(condition.value)}
        elif condition.op == "$in":
            assert isinstance(condition.value, frozenset)
            values = set(condition.value)
        else:
            continue
        candidates = values if candidates is None else candidates & values
    if candidates is None:
        return None
    return {value for value in candidates if all(c.test(value) for c in conditions)}


def _entails(target: Sequence[Condition], holder: Sequence[Condition], field: str) -> bool:
    """Every value the target's conditions admit is admitted by the holder's (S_target ⊆ S_holder)."""
    if not holder:
        return True
    if not target:
        return False
    if field in LIST_FIELDS:
        return all(condition in target for condition in holder)
    candidates = _finite_candidates(target)
    if candidates is not None:
        return all(all(h.test(value) for h in holder) for value in candidates)
    return all(_infinite_target_entails(target, h) for h in holder)


def _infinite_target_entails(target: Sequence[Condition], holder: Condition) -> bool:
    if holder.op in {"$eq", "$in"}:
        return False
    if holder.op == "$ne":
        excluded = str(holder.value)
        return any(
            (t.op == "$ne" and t.value == excluded)
            or (isinstance(t.value, Glob) and not t.value.match(excluded))
            for t in target
        )
    assert isinstance(holder.value, Glob)
    return any(isinstance(t.value, Glob) and subsumes(holder.value, t.value) for t in target)


def _disjoint(deny: Sequence[Condition], target: Sequence[Condition], field: str) -> bool:
    """No value satisfies both condition sets (provably)."""
    if not deny or not target or field in LIST_FIELDS:
        return False
    candidates = _finite_candidates(target)
    if candidates is not None:
        return not any(all(d.test(value) for d in deny) for value in candidates)
    deny_candidates = _finite_candidates(deny)
    if deny_candidates is not None:
        return not any(all(t.test(value) for t in target) for value in deny_candidates)
    return any(
        isinstance(d.value, Glob) and isinstance(t.value, Glob) and disjoint(d.value, t.value)
        for d in deny
        for t in target
    )


def _region_covered(
    holder_fields: dict[str, list[Condition]], target_fields: dict[str, list[Condition]]
) -> bool:
    return all(_entails(target_fields.get(name, []), conds, name) for name, conds in holder_fields.items())


def _deny_harmless(
    deny: Rule, target_fields: dict[str, list[Condition]], target_denies: Sequence[Rule]
) -> bool:
    deny_fields = deny.fields()
    if any(_disjoint(conds, target_fields.get(name, []), name) for name, conds in deny_fields.items()):
        return True
    # The target denies (at least) this region itself, so the holder's deny takes nothing from it.
    return any(_region_covered(own.fields(), deny_fields) for own in target_denies)


def _covered(holder: Sequence[Rule], rule: Rule, action: str, target_denies: Sequence[Rule]) -> bool:
    relevant = [h for h in holder if h.subject == rule.subject and action in h.actions]
    target_fields = rule.fields()
    own_denies = [d for d in target_denies if d.subject == rule.subject and action in d.actions]
    for deny in (h for h in relevant if h.inverted):
        if not _deny_harmless(deny, target_fields, own_denies):
            return False
    return any(not h.inverted and _region_covered(h.fields(), target_fields) for h in relevant)


def missing_permissions(holder: Iterable[Grant | Rule], target: Iterable[Rule]) -> list[dict[str, Any]]:
    """What the holder lacks to grant `target`, as `{subject, action, conditions?}` entries."""
    held = [item.rule if isinstance(item, Grant) else item for item in holder]
    wanted = list(target)
    denies = [rule for rule in wanted if rule.inverted]
    missing: list[dict[str, Any]] = []
    for rule in wanted:
        if rule.inverted:
            continue  # a deny only takes away; anyone may hand it out
        for action in sorted(rule.actions):
            if _covered(held, rule, action, denies):
                continue
            entry: dict[str, Any] = {"subject": rule.subject, "action": action}
            if rule.conditions:
                entry["conditions"] = conditions_to_wire(rule.conditions)
            if entry not in missing:
                missing.append(entry)
    return missing
