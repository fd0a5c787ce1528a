"""Uses of access tokens that have no use limit: counted in memory, written to the database in batches.

A token with a use limit takes each use in one conditional UPDATE (`tokens.consume_use`): the
database decides who gets the last use. A token without a limit has no last use to race for;
its counter (`accessTokenNumUses`) and last-use time are for people to read. Writing them on every
request made every secret read a write transaction — on SQLite a turn at the one write lock, on
PostgreSQL a commit — for a number nobody checks per request. Here the uses are added up per
token and written by a background thread once a second (and when the app stops, and before this
process shows a token's counter), in one transaction for all tokens.

What that changes: another worker or replica may show a counter up to a second behind, and a
process killed outright loses at most its last second of counts. Revocation, expiry and
everything else about a token are still checked against the database on every request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, bindparam, case, or_, select, update
from sqlalchemy.orm import Session, object_session

from tessera.identities.models import IdentityAccessToken

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
# A flusher with nothing to write for this many intervals ends; the next use starts another.
IDLE_INTERVALS_BEFORE_EXIT = 30
EXTRAS_KEY = "tessera.token_uses"
SESSION_KEY = "tessera.token_uses"

_t = IdentityAccessToken
# One statement for every token in the batch (executemany). The last-use time only moves forward:
# two processes may flush out of order.
_ADD_USES = (
    update(_t)
    .where(_t.id == bindparam("p_token_id"))
    .values(
        num_uses=_t.num_uses + bindparam("p_uses"),
        last_used_at=case(
            (or_(_t.last_used_at.is_(None), _t.last_used_at < bindparam("p_last")), bindparam("p_last")),
            else_=_t.last_used_at,
        ),
    )
    .execution_options(synchronize_session=False)
)


@dataclass(slots=True)
class _Pending:
    uses: int
    last_used_at: datetime


class UseLedger:
    """Per-process counts of unlimited tokens' uses not yet written (thread-safe)."""

    def __init__(self, engine: Engine, *, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, token_id: str, now: datetime) -> None:
        with self._lock:
            pending = self._pending.get(token_id)
            if pending is None:
                self._pending[token_id] = _Pending(1, now)
            else:
                pending.uses += 1
                pending.last_used_at = max(pending.last_used_at, now)
            if self._flusher is None and not self._stop.is_set():
                self._flusher = threading.Thread(target=self._run, name="tessera-token-uses", daemon=True)
                self._flusher.start()

    def pending(self, token_id: str) -> tuple[int, datetime | None]:
        """Uses of the token counted here and not yet written, and the latest of them."""
        with self._lock:
            pending = self._pending.get(token_id)
            return (pending.uses, pending.last_used_at) if pending else (0, None)

    def snapshot(self) -> dict[str, tuple[int, datetime]]:
        """Every token with uses not yet written: its pending count and latest use."""
        with self._lock:
            return {key: (p.uses, p.last_used_at) for key, p in self._pending.items()}

    def flush(self) -> int:
        """Write what is pending in one transaction; returns how many tokens it touched.

        On failure the counts are put back for the next flush and the error is raised.
        """
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return 0
        rows = [
            {"p_token_id": token_id, "p_uses": p.uses, "p_last": p.last_used_at}
            for token_id, p in taken.items()
        ]
        try:
            with self._engine.begin() as connection:
                connection.execute(_ADD_USES, rows)
        except BaseException:
            self._put_back(taken)
            raise
        return len(taken)

    def close(self) -> None:
        """Stop the flusher and write what is left (the app is stopping)."""
        self._stop.set()
        flusher = self._flusher
        if flusher is not None:
            flusher.join(timeout=10)
        self.flush()

    def _put_back(self, taken: dict[str, _Pending]) -> None:
        with self._lock:
            for token_id, p in taken.items():
                pending = self._pending.get(token_id)
                if pending is None:
                    self._pending[token_id] = p
                else:
                    pending.uses += p.uses
                    pending.last_used_at = max(pending.last_used_at, p.last_used_at)

    def _run(self) -> None:
        idle = 0
        while not self._stop.wait(self._interval_s):
            try:
                idle = 0 if self.flush() else idle + 1
            except Exception:  # the database is down, say: keep the counts and try again
                logger.warning("could not write access token use counts; retrying", exc_info=True)
                continue
            if idle >= IDLE_INTERVALS_BEFORE_EXIT:
                with self._lock:
                    if not self._pending:
                        self._flusher = None
                        return


def ledger_of(extras: dict[str, object], engine: Engine) -> UseLedger:
    """The app's ledger (one per app, kept with its other long-lived collaborators)."""
    found = extras.get(EXTRAS_KEY)
    if not isinstance(found, UseLedger):
        found = extras.setdefault(EXTRAS_KEY, UseLedger(engine))
    assert isinstance(found, UseLedger)
    return found


def close_use_ledger(extras: dict[str, object]) -> None:
    """Write what is pending and stop the flusher; a failure is logged (the app is stopping)."""
    found = extras.get(EXTRAS_KEY)
    if isinstance(found, UseLedger):
        try:
            found.close()
        except Exception:
            logger.exception("could not write the last access token use counts")


def session_ledger(info: dict[str, object]) -> UseLedger | None:
    """The ledger a request's session carries (None outside a request: take uses in SQL then)."""
    found = info.get(SESSION_KEY)
    return found if isinstance(found, UseLedger) else None


def current_usage(row: IdentityAccessToken) -> tuple[int, datetime | None]:
    """A token's use count and last use as this process knows them: the row plus what is pending.

    The row must still be attached to a request's session (the ledger travels with it);
    otherwise the row's own values are returned.
    """
    session = object_session(row)
    ledger = session_ledger(session.info) if session is not None else None
    uses, last = ledger.pending(row.id) if ledger is not None else (0, None)
    if last is None or (row.last_used_at is not None and row.last_used_at > last):
        last = row.last_used_at
    return row.num_uses + uses, last


def pending_where(session: Session, *where: ColumnElement[bool]) -> tuple[int, datetime | None]:
    """Uses this process counted and has not written yet, of the tokens matching `where`, and the
    latest of them: what a total read from the database (a SUM of num_uses) lacks."""
    ledger = session_ledger(session.info)
    pending = ledger.snapshot() if ledger is not None else {}
    if not pending:
        return 0, None
    uses, latest = 0, None
    matching = select(IdentityAccessToken.id).where(IdentityAccessToken.id.in_(pending), *where)
    for token_id in session.scalars(matching):
        count, last = pending[token_id]
        uses += count
        latest = last if latest is None or last > latest else latest
    return uses, latest
