"""Tables of the web console: people's sign-in sessions and the sign-in throttle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.store.base import Base, IdMixin, UTCDateTime


class ConsoleSession(IdMixin, Base):
    """A signed-in person. Only a keyed hash of the cookie's session id is stored, so a copy of the
    database does not let anyone sign in as the people it lists."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Absolute end of the session, however busy it is; the idle end is last_seen_at + idle timeout.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)


class ConsoleLoginThrottle(Base):
    """Failed sign-ins per (email, client IP), keyed by a hash so the table holds no addresses."""

    __tablename__ = "console_login_throttle"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConsoleDelegate(Base):
    """The machine identity through which the console acts for people in one organisation.

    Kept in the console's own table rather than found by name or metadata, so that nobody can
    make the console act through an identity they created.
    """

    __tablename__ = "console_delegates"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    identity_id: Mapped[str] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), nullable=False, unique=True
    )
