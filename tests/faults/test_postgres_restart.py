"""RL-5: PostgreSQL restarted under load. Requests during the outage fail closed with 503 (never
a 500, never a 200 with missing data), the same server process recovers on its own once the
database is back, and no write is half-done.

The database is a private PostgreSQL server in a temporary directory on its own port (see
`private_postgres.py`), so stopping it disturbs nothing else on the machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tessera.store import migrate
from tessera.store.engine import make_engine
from tests.faults.private_postgres import PrivatePostgres, private_postgres
from tests.faults.support import (
    Tenant,
    assert_envelope_503,
    list_secrets,
    set_up_tenant,
    stored_values,
    verify_everything,
)
from tests.processes import START_SECONDS, Zygote, server_env, zygote

# One group, so that `--dist loadgroup` keeps the module (and its server processes) on one worker.
pytestmark = [pytest.mark.xdist_group("faults-pg-restart"), pytest.mark.slow, pytest.mark.timeout(150)]

OUTAGE_SECONDS = 2.0  # how long the database stays down: long enough to see requests fail
RECOVERY_SECONDS = 15.0  # the bound on recovery once PostgreSQL accepts connections again
WRITERS = 3


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def forker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    with zygote(tmp_path_factory.mktemp("pg-restart-logs")) as forked:
        yield forked


@dataclass
class Event:
    kind: str  # create | update | list | ready
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    key: str = ""
    value: str = ""
    keys: frozenset[str] = frozenset()
    response: httpx.Response | None = None


@dataclass
class Load:
    base: str
    tenant: Tenant
    stop: threading.Event = field(default_factory=threading.Event)
    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def _call(self, http: httpx.Client, kind: str, method: str, path: str, **kwargs: object) -> Event:
        started = time.monotonic()
        try:
            response: httpx.Response | None = http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            response = None
        return Event(
            kind, started, time.monotonic(), response.status_code if response else 0, response=response
        )

    def writer(self, number: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            index = 0
            while not self.stop.is_set():
                key, value = f"W{number}_{index}", f"created-{number}-{index}"
                body = self.tenant.secret_body(value)
                event = self._call(
                    http,
                    "create",
                    "POST",
                    f"/api/v3/secrets/raw/{key}",
                    json=body,
                    headers=self.tenant.headers,
                )
                event.key, event.value = key, value
                self.record(event)
                value = f"updated-{number}-{index}"
                body = self.tenant.secret_body(value)
                event = self._call(
                    http,
                    "update",
                    "PATCH",
                    f"/api/v3/secrets/raw/U{number}",
                    json=body,
                    headers=self.tenant.headers,
                )
                event.key, event.value = f"U{number}", value
                self.record(event)
                index += 1

    def reader(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                response = list_secrets(http, self.tenant)
                keys = (
                    frozenset(s["secretKey"] for s in response.json()["secrets"])
                    if response.status_code == 200
                    else frozenset()
                )
                self.record(
                    Event(
                        "list", started, time.monotonic(), response.status_code, keys=keys, response=response
                    )
                )
                ready = http.get("/readyz")
                self.record(Event("ready", started, time.monotonic(), ready.status_code))


def test_rl5_postgres_restart_under_load(postgres: PrivatePostgres, forker: Zygote, tmp_path: Path) -> None:
    url = postgres.create_database("tessera_restart")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    server = forker.spawn(server_env(url, tmp_path / "data"), name="restart")
    server.wait_ready(time.monotonic() + START_SECONDS)
    tenant = set_up_tenant(server.base)
    with httpx.Client(base_url=server.base, timeout=30) as http:
        for number in range(WRITERS):
            body = tenant.secret_body("initial")
            assert (
                http.post(f"/api/v3/secrets/raw/U{number}", json=body, headers=tenant.headers).status_code
                == 200
            )

    load = Load(server.base, tenant)
    threads = [threading.Thread(target=load.writer, args=(n,)) for n in range(WRITERS)]
    threads.append(threading.Thread(target=load.reader))
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # load before the outage
        postgres.stop("fast")
        # The outage window is from the moment the server is gone until we begin starting it
        # again: a request begun while `stop` was still shutting down may rightly succeed, and so
        # may one that lands while `start` is waiting for the server it already brought up.
        down_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)  # the outage itself
        restarting_at = time.monotonic()
        postgres.start()
        up_at = time.monotonic()
        recovered_at = _wait_for_success(load, up_at)
        time.sleep(1.0)  # load after recovery
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)

    events = sorted(load.events, key=lambda e: e.started)
    statuses = {e.status for e in events}
    # Fail closed: every answer is a success or a retryable 503; nothing crashed, nothing hung.
    assert statuses <= {200, 503}, sorted(statuses)
    during = [e for e in events if down_at <= e.started and e.ended <= restarting_at]
    assert any(e.status == 503 for e in during), "no request saw the outage"
    assert all(e.status == 503 for e in during if e.kind != "ready"), [e.status for e in during]
    for event in events:
        if event.status == 503 and event.response is not None and event.kind != "ready":
            assert_envelope_503(event.response)
    # Recovered by itself, the same process, within the bound.
    assert recovered_at - up_at < RECOVERY_SECONDS
    assert server.alive
    assert all(e.status == 200 for e in events if e.started > recovered_at + 1.0)
    _assert_reads_never_miss_acknowledged_writes(events)
    _assert_no_partial_writes(events, server.base, tenant, url)


def _wait_for_success(load: Load, since: float) -> float:
    deadline = since + RECOVERY_SECONDS
    while time.monotonic() < deadline:  # polling the recorded outcomes, bounded
        with load.lock:
            done = [
                e.ended for e in load.events if e.started >= since and e.status == 200 and e.kind != "ready"
            ]
        if done:
            return min(done)
        time.sleep(0.05)
    raise AssertionError("Tessera did not recover after PostgreSQL came back")


def _assert_reads_never_miss_acknowledged_writes(events: list[Event]) -> None:
    """A 200 listing holds every secret whose creation was acknowledged before the listing began."""
    for read in (e for e in events if e.kind == "list" and e.status == 200):
        acknowledged = {
            e.key for e in events if e.kind == "create" and e.status == 200 and e.ended < read.started
        }
        assert acknowledged <= read.keys, sorted(acknowledged - read.keys)[:5]


def _assert_no_partial_writes(events: list[Event], base: str, tenant: Tenant, url: str) -> None:
    stored = stored_values(base, tenant)
    for event in (e for e in events if e.kind == "create"):
        if event.status == 200:
            assert stored.get(event.key) == event.value
        else:  # unknown outcome: all of it or nothing
            assert stored.get(event.key) in (None, event.value)
    for number in range(WRITERS):
        updates = [e for e in events if e.kind == "update" and e.key == f"U{number}"]
        acknowledged = [i for i, e in enumerate(updates) if e.status == 200]
        last = acknowledged[-1] if acknowledged else -1
        possible = {updates[last].value} if last >= 0 else {"initial"}
        possible |= {e.value for e in updates[last + 1 :]}
        assert stored[f"U{number}"] in possible
    report = verify_everything(url)
    assert report.ok, report.failures + report.inconsistencies
    assert report.secrets == len(stored)
