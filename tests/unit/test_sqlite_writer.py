"""The SQLite writer locks: handed over at once, and only tried inside `attempt_without_waiting`."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tessera.store.engine import local_file_writer, make_engine
from tessera.store.sqlite_writer import WriterBusy, attempt_without_waiting, lock_path


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}", sqlite_busy_timeout_ms=5_000)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


def _insert(engine: Engine, value: int) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": value})


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT n FROM t ORDER BY n"))]


def _hold_writer(engine: Engine, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Another thread of this process holds a write transaction for `seconds`."""
    started = threading.Event()

    def hold() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (0)"))
            started.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    assert started.wait(5)
    return holder, started


def test_only_sqlite_files_count_as_local(tmp_path: Path) -> None:
    assert local_file_writer(make_engine(f"sqlite:///{tmp_path / 'x.db'}")) is not None
    assert local_file_writer(make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")) is None


def test_a_free_lock_is_taken_without_waiting(sqlite_file: Engine) -> None:
    with attempt_without_waiting():
        _insert(sqlite_file, 1)
    assert _rows(sqlite_file) == [1]


def test_a_held_lock_raises_writer_busy_at_once_and_leaves_nothing_behind(sqlite_file: Engine) -> None:
    holder, _ = _hold_writer(sqlite_file, 0.5)
    began = time.monotonic()
    with pytest.raises(WriterBusy), attempt_without_waiting():
        _insert(sqlite_file, 1)
    assert time.monotonic() - began < 0.25  # did not wait for the holder
    holder.join()
    _insert(sqlite_file, 2)  # the failed attempt kept no lock
    assert _rows(sqlite_file) == [0, 2]


def test_an_attempt_waits_up_to_its_bound_for_a_short_holder(sqlite_file: Engine) -> None:
    holder, _ = _hold_writer(sqlite_file, 0.05)
    with attempt_without_waiting(up_to_s=5):
        _insert(sqlite_file, 1)  # the holder commits well within the bound
    holder.join()
    assert _rows(sqlite_file) == [0, 1]


def test_an_attempt_gives_up_at_its_bound(sqlite_file: Engine) -> None:
    holder, _ = _hold_writer(sqlite_file, 1.0)
    began = time.monotonic()
    with pytest.raises(WriterBusy), attempt_without_waiting(up_to_s=0.05):
        _insert(sqlite_file, 1)
    assert 0.04 <= time.monotonic() - began < 0.5
    holder.join()


def test_a_bound_covers_a_holder_in_another_process(sqlite_file: Engine, tmp_path: Path) -> None:
    fd = os.open(lock_path(os.path.realpath(tmp_path / "w.db")), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    unlock = threading.Timer(0.05, lambda: fcntl.flock(fd, fcntl.LOCK_UN))
    unlock.start()
    try:
        with attempt_without_waiting(up_to_s=5):
            _insert(sqlite_file, 1)  # polled the flock until the other "process" let go
    finally:
        unlock.join()
        os.close(fd)
    assert _rows(sqlite_file) == [1]


def test_outside_an_attempt_a_held_lock_is_waited_for(sqlite_file: Engine) -> None:
    holder, _ = _hold_writer(sqlite_file, 0.3)
    _insert(sqlite_file, 1)
    holder.join()
    assert _rows(sqlite_file) == [0, 1]


def test_a_lock_held_by_another_process_raises_writer_busy(sqlite_file: Engine, tmp_path: Path) -> None:
    # The cross-process lock is an flock on a companion file: hold it from a second descriptor,
    # as another worker process would.
    fd = os.open(lock_path(os.path.realpath(tmp_path / "w.db")), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(WriterBusy), attempt_without_waiting():
            _insert(sqlite_file, 1)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    _insert(sqlite_file, 2)
    assert _rows(sqlite_file) == [2]


def test_after_a_commit_the_attempt_waits_instead_of_raising(sqlite_file: Engine) -> None:
    """Retrying the whole attempt would repeat what it committed, so from then on it waits."""
    with attempt_without_waiting():
        _insert(sqlite_file, 1)
        holder, _ = _hold_writer(sqlite_file, 0.2)
        _insert(sqlite_file, 2)  # waits for the holder rather than raising WriterBusy
        holder.join()
    assert _rows(sqlite_file) == [0, 1, 2]
