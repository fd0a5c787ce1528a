"""Reading the audit trail: who did what, when, from where, and why a failure failed.

Needs the org `audit-logs:read` permission. Records never hold credentials by construction;
as a second line of defence, detail keys that look like credentials are masked on the way out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query

from tessera.api.deps import PrincipalDep, SessionDep
from tessera.audit.models import AuditEvent
from tessera.audit.service import list_events
from tessera.clock import iso_js
from tessera.errors import PermissionDenied
from tessera.rbac.service import org_permissions

router = APIRouter(tags=["audit"])

_SENSITIVE = ("secret", "password", "token", "credential", "value", "privatekey", "jwt", "key")
_SAFE_SUFFIXES = ("id", "ids", "name", "count", "method", "type", "slug")
REDACTED = "[redacted]"


def _sensitive(key: str) -> bool:
    lowered = key.lower().replace("_", "").replace("-", "")
    if lowered.endswith(_SAFE_SUFFIXES):
        return False
    return any(word in lowered for word in _SENSITIVE)


def redact(value: Any) -> Any:
    """Mask values under credential-looking keys, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if _sensitive(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def event_wire(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "event": event.event,
        "outcome": event.outcome,
        "reason": event.reason,
        "orgId": event.org_id,
        "actor": {"type": event.actor_type, "id": event.actor_id},
        "identityId": event.identity_id,
        "authMethod": event.auth_method,
        "ipAddress": event.ip,
        "userAgent": event.user_agent,
        "requestId": event.request_id,
        "details": redact(event.details or {}),
        "createdAt": iso_js(event.created_at),
    }


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


for _prefix in ("/api/v1/organization/{org_id}", "/api/v1/organizations/{org_id}"):

    @router.get(f"{_prefix}/audit-logs", summary="List audit events of the organisation")
    def list_audit_logs(
        org_id: str,
        session: SessionDep,
        principal: PrincipalDep,
        identity_id: str | None = Query(None, alias="identityId", max_length=36),
        event: str | None = Query(None, max_length=64),
        outcome: str | None = Query(None, pattern="^(success|failure)$"),
        start_date: datetime | None = Query(None, alias="startDate"),
        end_date: datetime | None = Query(None, alias="endDate"),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        if org_id != principal.org_id:
            raise PermissionDenied("You are not allowed to read on audit-logs", reason="foreign_org")
        org_permissions(session, principal).require("read", "audit-logs")
        events = list_events(
            session,
            org_id=org_id,
            identity_id=identity_id,
            event=event,
            outcome=outcome,
            since=_utc(start_date),
            until=_utc(end_date),
            limit=limit,
            offset=offset,
        )
        return {"auditLogs": [event_wire(e) for e in events]}
