"""`why?` for administrators: run the evaluator for an identity and report the deciding rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tessera.auth.principal import Principal
from tessera.errors import NotFound, ValidationFailure
from tessera.projects.models import Project
from tessera.rbac.evaluate import Decision, PermissionSet
from tessera.rbac.permissions import Scope, subjects_for
from tessera.rbac.service import (
    org_membership,
    org_permissions,
    org_permissions_for,
    project_permissions,
    project_permissions_for,
)

# Only those who may hand out privileges may read another identity's: admins by default.
EXPLAIN_ACTION = "grant-privileges"


@dataclass(frozen=True, slots=True)
class Explanation:
    identity_id: str
    action: str
    subject: str
    fields: dict[str, str | list[str]]
    decision: Decision


def _check_question(scope: Scope, action: str, subject: str) -> None:
    known = subjects_for(scope)
    if subject not in known:
        raise ValidationFailure("subject", f"Unknown permission subject {subject!r}")
    if action not in known[subject]:
        raise ValidationFailure("action", f"Unknown action {action!r} for subject {subject!r}")


def _target(session: Session, principal: Principal, org_id: str, identity_id: str | None) -> str:
    target = identity_id or principal.identity_id
    if org_membership(session, target, org_id) is None:
        raise NotFound(f"Failed to find identity with id {target}", reason="identity_not_found")
    return target


def _answer(
    permissions: PermissionSet,
    target: str,
    action: str,
    subject: str,
    fields: Mapping[str, str | Sequence[str] | None],
) -> Explanation:
    present = {k: (v if isinstance(v, str) else list(v)) for k, v in fields.items() if v is not None}
    return Explanation(target, action, subject, present, permissions.explain(action, subject, **fields))


def explain_project(
    session: Session,
    principal: Principal,
    project: Project,
    *,
    identity_id: str | None,
    action: str,
    subject: str,
    fields: Mapping[str, str | Sequence[str] | None],
) -> Explanation:
    """Raises PermissionDenied (no project `identity:grant-privileges`), NotFound, ValidationFailure."""
    project_permissions(session, principal, project).require(EXPLAIN_ACTION, "identity")
    _check_question("project", action, subject)
    target = _target(session, principal, project.org_id, identity_id)
    return _answer(project_permissions_for(session, target, project), target, action, subject, fields)


def explain_org(
    session: Session,
    principal: Principal,
    *,
    identity_id: str | None,
    action: str,
    subject: str,
    fields: Mapping[str, str | Sequence[str] | None],
) -> Explanation:
    """Raises PermissionDenied (caller lacks org `identity:grant-privileges`), NotFound, ValidationFailure."""
    org_permissions(session, principal).require(EXPLAIN_ACTION, "identity")
    _check_question("org", action, subject)
    target = _target(session, principal, principal.org_id, identity_id)
    return _answer(org_permissions_for(session, target, principal.org_id), target, action, subject, fields)
