"""The organisation overview and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tessera.api.deps import SessionDep
from tessera.audit import service as audit
from tessera.clock import as_utc
from tessera.console.principal import find_delegate
from tessera.console.web import ConsoleRoute, ViewerDep, render
from tessera.identities.models import Identity
from tessera.projects import service as projects

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

AUDIT_PAGE_SIZE = 50
OUTCOMES = ("success", "failure")


def identity_names(session: Session, org_id: str) -> dict[str, str]:
    """Identity id → name, so audit rows can name their actors."""
    rows = session.execute(select(Identity.id, Identity.name).where(Identity.org_id == org_id))
    return {str(row[0]): str(row[1]) for row in rows}


@router.get("/")
def overview(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    principal = viewer.principal
    project_views = projects.list_projects(session, principal)
    delegate = find_delegate(session, principal.org_id)
    identity_count = session.scalar(
        select(func.count(Identity.id)).where(Identity.org_id == principal.org_id, Identity.id != delegate)
    )
    recent = audit.list_events(session, org_id=principal.org_id, limit=8)
    return render(
        request,
        "overview.html",
        nav="overview",
        projects=project_views,
        identity_count=identity_count or 0,
        events=recent,
        identity_names=identity_names(session, principal.org_id),
    )


def _parse_day(value: str | None) -> datetime | None:
    """`YYYY-MM-DD` from a date input, as the start of that UTC day; anything else is ignored."""
    if not value:
        return None
    try:
        return as_utc(datetime.strptime(value, "%Y-%m-%d"))
    except ValueError:
        return None


def audit_filters(query: Any) -> dict[str, Any]:
    """Pure: the audit page's query string → list_events filters (bad values dropped, not trusted)."""
    outcome = query.get("outcome") or None
    until = _parse_day(query.get("until"))
    try:
        page = max(int(query.get("page") or 1), 1)
    except ValueError:
        page = 1
    return {
        "identity_id": (query.get("identity") or "").strip()[:36] or None,
        "event": (query.get("event") or "").strip()[:64] or None,
        "outcome": outcome if outcome in OUTCOMES else None,
        "since": _parse_day(query.get("since")),
        # The "until" date includes the whole of that day.
        "until": until + timedelta(days=1) - timedelta(microseconds=1) if until else None,
        "page": page,
    }


@router.get("/audit")
def audit_log(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    filters = audit_filters(request.query_params)
    page = filters.pop("page")
    events = audit.list_events(
        session,
        org_id=viewer.principal.org_id,
        limit=AUDIT_PAGE_SIZE + 1,  # one more tells whether there is a next page
        offset=(page - 1) * AUDIT_PAGE_SIZE,
        **filters,
    )
    return render(
        request,
        "audit.html",
        nav="audit",
        events=events[:AUDIT_PAGE_SIZE],
        has_next=len(events) > AUDIT_PAGE_SIZE,
        page=page,
        query=dict(request.query_params),
        identity_names=identity_names(session, viewer.principal.org_id),
        outcomes=OUTCOMES,
    )
