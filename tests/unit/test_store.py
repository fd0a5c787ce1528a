"""Storage basics: SQLite connection pragmas, aware-UTC timestamps on both databases, Python-made ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from tessera.audit.models import AuditEvent
from tessera.store.engine import make_engine
from tessera.text import is_slug, slugify


def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'x.db'}", sqlite_busy_timeout_ms=1234)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
    finally:
        engine.dispose()
    assert (tmp_path / "nested" / "dir" / "x.db").exists()


def _event(created_at: datetime) -> AuditEvent:
    return AuditEvent(event="probe", outcome="success", details={"k": [1, "two"]}, created_at=created_at)


def test_timestamps_come_back_aware_utc_and_compare_in_sql(engine: Engine) -> None:
    base = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    with Session(engine) as session, session.begin():
        session.add_all(
            [
                _event(base),
                _event((base + timedelta(seconds=1)).astimezone(plus_two)),  # stored as UTC
                _event(base + timedelta(days=1)),
            ]
        )
    with Session(engine) as session:
        rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.created_at)))
        later = list(session.scalars(select(AuditEvent).where(AuditEvent.created_at > base)))
    assert [row.created_at for row in rows] == [base, base + timedelta(seconds=1), base + timedelta(days=1)]
    assert all(row.created_at.tzinfo is UTC for row in rows)
    assert len(later) == 2
    assert rows[0].details == {"k": [1, "two"]}


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(_event(datetime(2030, 1, 1)))  # naive on purpose
        with pytest.raises(StatementError, match="naive datetimes are not stored"):
            session.flush()


def test_ids_are_uuids_made_in_python(engine: Engine) -> None:
    event = _event(datetime.now(UTC))
    with Session(engine) as session, session.begin():
        session.add(event)
        session.flush()
        assert uuid.UUID(event.id).version == 4


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Payments", "payments"),
        ("My Great App!", "my-great-app"),
        ("  --Weird__name--  ", "weird-name"),
        ("Ünïcode Ñame", "n-code-ame"),
        ("!!!", "project"),
        ("", "project"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug
    assert is_slug(slugify(name))


def test_slugify_respects_the_length_limit_without_a_trailing_hyphen() -> None:
    slug = slugify("a" * 47 + " b" * 10)
    assert len(slug) <= 48
    assert is_slug(slug)


@given(st.text(max_size=200))
def test_slugify_always_yields_a_valid_slug(name: str) -> None:
    slug = slugify(name)
    assert is_slug(slug)
    assert 0 < len(slug) <= 48
