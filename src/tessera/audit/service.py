"""Writing and reading audit events. Callers pass what happened; nothing secret belongs here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tessera.audit.models import AuditEvent
from tessera.store.base import new_id


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Facts about the HTTP request that services record (never credentials)."""

    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None


@dataclass(slots=True)
class AuditEntry:
    event: str
    outcome: str = "success"
    reason: str | None = None
    org_id: str | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    identity_id: str | None = None
    auth_method: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


# A plain INSERT on the session's connection: the audit table has no foreign keys and no entity is
# ever read back in the same request, so the ORM's unit of work (the costliest part of a login's
# commit) has nothing to add. Written at once; a rollback of the request still removes it.
_INSERT_EVENT = insert(AuditEvent)


def record(session: Session, entry: AuditEntry, ctx: RequestContext, *, now: datetime) -> None:
    session.connection().execute(
        _INSERT_EVENT,
        {
            "id": new_id(),
            "org_id": entry.org_id,
            "event": entry.event,
            "outcome": entry.outcome,
            "reason": entry.reason,
            "actor_type": entry.actor_type,
            "actor_id": entry.actor_id,
            "identity_id": entry.identity_id,
            "auth_method": entry.auth_method,
            "ip": ctx.client_ip,
            "user_agent": (ctx.user_agent or "")[:512] or None,
            "request_id": ctx.request_id,
            "details": entry.details,
            "created_at": now,
        },
    )


def list_events(
    session: Session,
    *,
    org_id: str,
    identity_id: str | None = None,
    event: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if identity_id:
        query = query.where(AuditEvent.identity_id == identity_id)
    if event:
        query = query.where(AuditEvent.event == event)
    if outcome:
        query = query.where(AuditEvent.outcome == outcome)
    if since:
        query = query.where(AuditEvent.created_at >= since)
    if until:
        query = query.where(AuditEvent.created_at <= until)
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id).limit(limit).offset(offset)
    return list(session.scalars(query))
