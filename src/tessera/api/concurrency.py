"""A cap on requests in flight, kept below the worker-thread pool, so a burst cannot deadlock the app.

Sync endpoints and dependencies run on a shared pool of worker threads (anyio's default limiter,
40 threads), one hop at a time. A request takes its database locks in one hop (the token-use
UPDATE, SQLite's write lock, a row lock on PostgreSQL) and needs further hops (the endpoint,
response serialisation) before it commits. If a burst fills every worker with requests waiting
for those locks, the holder never gets a thread to finish on, and everyone waits for the lock
timeout. Queueing excess requests in the event loop, where waiting costs no thread, keeps a
worker free for the holder.
"""

from __future__ import annotations

import asyncio
import weakref

from tessera.api.middleware import ASGIApp, Receive, Scope, Send

# anyio's default worker-thread limit is 40; stay clearly below it.
DEFAULT_MAX_IN_FLIGHT = 32


class ConcurrencyLimit:
    def __init__(self, app: ASGIApp, *, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        # One semaphore per event loop: tests drive one app from several loops.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = asyncio.Semaphore(self.max_in_flight)
            self._semaphores[loop] = semaphore
        return semaphore

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self._semaphore():
            await self.app(scope, receive, send)
