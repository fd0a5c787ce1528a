"""The sign-in failure counter is one conditional UPDATE: concurrent failures are all counted."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tessera.clock import utcnow
from tessera.console.auth import ThrottlePolicy, is_locked, record_failure
from tessera.console.models import ConsoleLoginThrottle
from tessera.store.engine import make_session_factory

KEY = "k" * 64


def test_concurrent_failures_are_all_counted_and_lock_exactly_at_the_limit(engine: Any) -> None:
    factory = make_session_factory(engine)
    now = utcnow()
    policy = ThrottlePolicy(max_failures=10, lockout_seconds=900)
    start = threading.Barrier(10)

    def fail_once() -> None:
        start.wait()
        with factory() as session, session.begin():
            record_failure(session, KEY, now, policy)

    threads = [threading.Thread(target=fail_once) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with factory() as session:
        row = session.scalar(select(ConsoleLoginThrottle).where(ConsoleLoginThrottle.key_hash == KEY))
        assert row is not None
        assert row.failures == 10
        assert is_locked(session, KEY, now)


def test_failures_below_the_limit_do_not_lock_and_the_window_restarts(engine: Any) -> None:
    factory = make_session_factory(engine)
    now = utcnow()
    policy = ThrottlePolicy(max_failures=3, lockout_seconds=60)
    with factory() as session, session.begin():
        record_failure(session, KEY, now, policy)
        record_failure(session, KEY, now, policy)
        assert not is_locked(session, KEY, now)
    later = now + timedelta(seconds=61)
    with factory() as session, session.begin():
        record_failure(session, KEY, later, policy)  # the old window is over: counting starts again
        assert not is_locked(session, KEY, later)
        row = session.get(ConsoleLoginThrottle, KEY)
        assert row is not None
        assert row.failures == 1
