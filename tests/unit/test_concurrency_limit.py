"""The in-flight request cap: excess requests wait in the event loop rather than on worker threads."""

from __future__ import annotations

import asyncio
from typing import Any

from tessera.api.concurrency import DEFAULT_MAX_IN_FLIGHT, ConcurrencyLimit


def test_no_more_than_the_cap_run_at_once() -> None:
    running = 0
    peak = 0
    release = asyncio.Event()

    async def inner(_scope: Any, _receive: Any, _send: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    limited = ConcurrencyLimit(inner, max_in_flight=3)

    async def scenario() -> None:
        tasks = [asyncio.create_task(limited({"type": "http"}, None, None)) for _ in range(10)]  # type: ignore[arg-type]
        for _ in range(20):
            await asyncio.sleep(0)
        assert running == 3
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert peak == 3
    assert running == 0


def test_the_default_cap_leaves_worker_threads_free() -> None:
    assert DEFAULT_MAX_IN_FLIGHT < 40  # anyio's default worker-thread limit
