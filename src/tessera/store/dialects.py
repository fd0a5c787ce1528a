"""What differs between the two supported databases at the statement level."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session) -> Any:
    """The dialect's INSERT construct (both have ON CONFLICT … DO NOTHING / DO UPDATE)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
