"""`in_transaction`: the hot routes' one-trip unit of work (commit rules and its own small pool)."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.requests import Request

from tessera.api.deps import AppContext, in_transaction, read_only
from tessera.audit.service import RequestContext
from tessera.errors import BadRequest


class FakeSession:
    """Records what the unit of work asks of its session."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.calls: list[str] = []

    def commit(self) -> None:
        self.calls.append("commit")

    def rollback(self) -> None:
        self.calls.append("rollback")

    def close(self) -> None:
        self.calls.append("close")

    def get_bind(self) -> None:
        return None


def _context(threads: int = 2) -> tuple[AppContext, list[FakeSession]]:
    made: list[FakeSession] = []

    def factory() -> FakeSession:
        made.append(FakeSession())
        return made[-1]

    context = SimpleNamespace(
        settings=SimpleNamespace(hot_route_threads=threads), session_factory=factory, extras={}, clock=None
    )
    return cast(AppContext, context), made


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""})


def test_success_commits_once_and_runs_off_the_event_loop() -> None:
    context, sessions = _context()
    loop_thread = threading.current_thread()

    def work(session: Any) -> str:
        assert threading.current_thread() is not loop_thread
        return "answer"

    result = asyncio.run(in_transaction(_request(), context, RequestContext(), work))
    assert result == "answer"
    assert sessions[0].calls == ["commit", "close"]


@pytest.mark.parametrize(("persist", "expected"), [(False, "rollback"), (True, "commit")])
def test_a_failure_rolls_back_unless_it_asks_to_persist(persist: bool, expected: str) -> None:
    context, sessions = _context()

    def work(session: Any) -> None:
        raise BadRequest("no", reason="test", persist=persist)

    with pytest.raises(BadRequest):
        asyncio.run(in_transaction(_request(), context, RequestContext(), work))
    assert sessions[0].calls == [expected, "close"]


def test_units_run_on_no_more_threads_than_configured() -> None:
    """Few threads is the point (GIL contention); excess units wait their turn in the event loop."""
    context, _sessions = _context(threads=2)
    lock = threading.Lock()
    running = peak = 0
    release = threading.Event()

    def work(session: Any) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(timeout=10)
        with lock:
            running -= 1

    async def scenario() -> None:
        units = [
            asyncio.create_task(in_transaction(_request(), context, RequestContext(), work)) for _ in range(6)
        ]
        for _ in range(100):  # let every unit that can start, start
            await asyncio.sleep(0.005)
        assert running == 2
        release.set()
        await asyncio.gather(*units)

    asyncio.run(scenario())
    assert peak == 2


# --- on an SQLite file: first on the event loop, on a hot thread when the write lock is taken ---


def _sqlite_context(tmp_path: Any) -> tuple[AppContext, Any]:
    from sqlalchemy import text

    from tessera.store.engine import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'u.db'}", sqlite_busy_timeout_ms=5_000)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    context = SimpleNamespace(
        settings=SimpleNamespace(hot_route_threads=2, sqlite_busy_timeout_ms=5_000),
        session_factory=make_session_factory(engine),
        extras={},
        clock=None,
    )
    return cast(AppContext, context), engine


def _insert_unit(value: int, threads: list[threading.Thread]) -> Any:
    from sqlalchemy import text

    def work(session: Any) -> int:
        threads.append(threading.current_thread())
        session.execute(text("INSERT INTO t VALUES (:n)"), {"n": value})
        return value

    return work


def _values(engine: Any) -> list[int]:
    from sqlalchemy import text

    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT n FROM t ORDER BY n"))]


def test_on_sqlite_a_unit_runs_on_the_event_loop(tmp_path: Any) -> None:
    context, engine = _sqlite_context(tmp_path)
    threads: list[threading.Thread] = []
    result = asyncio.run(in_transaction(_request(), context, RequestContext(), _insert_unit(1, threads)))
    assert result == 1
    assert threads == [threading.main_thread()]  # asyncio.run drives the loop on this thread
    assert _values(engine) == [1]


def _read_only_request() -> Request:
    @read_only
    def endpoint() -> None:
        """A read-only route (a secret read, say)."""

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    return Request({**scope, "endpoint": endpoint})


def _hold_write_lock(engine: Any) -> tuple[threading.Thread, threading.Event]:
    """Another thread holds a write transaction until the returned event is set."""
    from sqlalchemy import text

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (0)"))
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    return holder, release


def test_on_sqlite_a_lock_taken_for_long_moves_the_unit_to_a_thread_and_commits_once(tmp_path: Any) -> None:
    from sqlalchemy import text

    context, engine = _sqlite_context(tmp_path)
    holder, release = _hold_write_lock(engine)
    threads: list[threading.Thread] = []

    def read(session: Any) -> int:
        return int(session.execute(text("SELECT count(*) FROM t")).scalar_one())

    async def scenario() -> int:
        writing = in_transaction(_request(), context, RequestContext(), _insert_unit(7, threads))
        unit = asyncio.create_task(writing)
        await asyncio.sleep(0.1)
        assert not unit.done()  # waiting for the lock, on a thread...
        # ...while the loop goes on serving: a read completes meanwhile.
        assert await in_transaction(_read_only_request(), context, RequestContext(), read) == 0
        release.set()
        return await unit

    assert asyncio.run(scenario()) == 7
    holder.join()
    # Tried on the loop (rolled back when the lock did not come), then run again, once, on a thread.
    assert len(threads) == 2
    assert threads[0] is threading.main_thread()
    assert threads[1] is not threading.main_thread()
    assert _values(engine) == [0, 7]
