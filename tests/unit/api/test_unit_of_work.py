"""`in_transaction`: the hot routes' one-trip unit of work (commit rules and its own small pool)."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.requests import Request

from tessera.api.deps import AppContext, in_transaction
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
