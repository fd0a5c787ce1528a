"""Soak (RL-15): a fixed-rate mixed load for a long time; memory, descriptors and p99 must stay flat.

    .venv/bin/python -m bench.soak [--minutes M] [--rate R] [--database-url URL]

Starts `tessera server --workers 2` on 127.0.0.1 (embedded SQLite in a scratch data directory, or
a scratch PostgreSQL database beside --database-url), prepares an admin, a project, a secret and
an identity with Universal Auth and read-only project access (bench.compare.prepare_tessera),
then sends R requests per second in total from a few client threads, following a fixed schedule
whatever the answers: logins, secret reads and secret updates, and traffic that must be refused
(unknown client ids, garbage and revoked tokens, updates by a read-only identity, bodies over
TESSERA_MAX_BODY_BYTES, declared and chunked). Every --sample-seconds it records each worker's
resident memory (VmRSS) and open descriptors (/proc/<pid>/fd) and the latency of that window.

At the end it judges, after a warm-up (the first 10 % of the run): each worker's RSS and the
workers' descriptor total stay within ±10 % of their first post-warm-up sample, the last window's
p99 is within 2x of the first post-warm-up window's (or under 50 ms), the schedule was kept (at
least 90 % of the requested rate) and every request got exactly the status its kind expects.
It prints a table, writes bench/results/soak-<time>.json and exits 1 when a gate fails.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.compare import _listener_pid, prepare_tessera, rss_mb, server_pids, tessera_env
from bench.run import BENCH_DIR, RESULTS_DIR, SCRATCH_DIR, BenchError, free_port, running_server
from bench.run import scratch_database as scratch_postgres

UNUSED_AUTHORITY = "http://127.0.0.1:9"  # the soak makes no Azure logins; nothing is ever dialled
UNUSED_JWT = "unused"
# The login limiter stays on (its buckets are state that could leak) but far above the soak's rate.
LOGIN_LIMIT = "1000000/60"
CLIENT_TIMEOUT_S = 30.0


# --- the mix --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of request: how often it is sent (in a cycle of 20) and the one status it must get."""

    name: str
    weight: int
    expected: int


KINDS = (
    Kind("ua-login", 3, 200),
    Kind("secret-read", 8, 200),
    Kind("secret-write", 3, 200),
    Kind("login-unknown-client", 1, 401),
    Kind("read-garbage-token", 1, 403),  # a garbled token is a TokenError: 403, as Infisical answers
    Kind("read-revoked-token", 1, 401),
    Kind("write-read-only", 1, 403),
    Kind("body-too-large", 1, 413),
    Kind("chunked-too-large", 1, 413),
)
EXPECTED = {kind.name: kind.expected for kind in KINDS}


def schedule(kinds: tuple[Kind, ...] = KINDS) -> list[str]:
    """The kinds spread evenly over one cycle (not clumped), so every window sees the same mix."""
    slots: list[tuple[float, str]] = []
    for kind in kinds:
        slots += [((i + 0.5) / kind.weight, kind.name) for i in range(kind.weight)]
    return [name for _, name in sorted(slots)]


@dataclass
class Plan:
    """What the requests need, prepared once; `token` follows the latest successful login."""

    login_body: str
    read_path: str
    write_path: str
    write_fields: dict[str, Any]
    admin_token: str
    token: str
    revoked_token: str
    max_body_bytes: int
    counter: Iterator[int] = field(default_factory=itertools.count)


def prepare(base_url: str, max_body_bytes: int) -> Plan:
    requests = prepare_tessera(base_url, UNUSED_JWT)
    login, read, write = requests["ua-login"], requests["secret-read"], requests["secret-write"]
    if not (login.body and read.header and write.body and write.header):
        raise BenchError("bench.compare.prepare_tessera gave incomplete requests")
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as http:
        revoked = _login(http, login.body)
        answer = http.post("/api/v1/auth/token/revoke", json={"accessToken": revoked})
        if answer.status_code != 200:
            raise BenchError(f"revoking a token: {answer.status_code} {answer.text[:300]}")
    return Plan(
        login_body=login.body,
        read_path=read.path,
        write_path=write.path,
        write_fields=json.loads(write.body),
        admin_token=_bearer(write.header),
        token=_bearer(read.header),
        revoked_token=revoked,
        max_body_bytes=max_body_bytes,
    )


def _bearer(header: str) -> str:
    """The token of an "Authorization: Bearer <token>" header line."""
    return header.partition(":")[2].strip().removeprefix("Bearer ")


def _login(http: httpx.Client, body: str) -> str:
    answer = http.post(
        "/api/v1/auth/universal-auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    if answer.status_code != 200:
        raise BenchError(f"login: {answer.status_code} {answer.text[:300]}")
    token: str = answer.json()["accessToken"]
    return token


LOGIN_PATH = "/api/v1/auth/universal-auth/login"
JSON_TYPE = {"Content-Type": "application/json"}


def _bearer_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ua_login(plan: Plan, http: httpx.Client) -> int:
    answer = http.post(LOGIN_PATH, content=plan.login_body, headers=JSON_TYPE)
    if answer.status_code == 200:
        plan.token = answer.json()["accessToken"]  # later reads use the newest token
    return answer.status_code


def _login_unknown_client(plan: Plan, http: httpx.Client) -> int:
    # A new unknown client id each time: nothing keyed by it may pile up in the server.
    body = {"clientId": str(uuid.uuid4()), "clientSecret": secrets.token_hex(32)}
    return http.post(LOGIN_PATH, json=body).status_code


def _read(token: Callable[[Plan], str]) -> Callable[[Plan, httpx.Client], int]:
    def read(plan: Plan, http: httpx.Client) -> int:
        return http.get(plan.read_path, headers=_bearer_header(token(plan))).status_code

    return read


def _write(token: Callable[[Plan], str]) -> Callable[[Plan, httpx.Client], int]:
    def write(plan: Plan, http: httpx.Client) -> int:
        body = {**plan.write_fields, "secretValue": f"soak-{next(plan.counter)}"}
        return http.patch(plan.write_path, json=body, headers=_bearer_header(token(plan))).status_code

    return write


def _too_large(chunked: bool) -> Callable[[Plan, httpx.Client], int]:
    def too_large(plan: Plan, http: httpx.Client) -> int:
        oversize = b"x" * (plan.max_body_bytes + 1)
        # An iterator has no length, so httpx sends it chunked: no Content-Length to refuse early.
        content: bytes | Iterator[bytes] = iter([oversize]) if chunked else oversize
        # The server closes a connection whose body it did not read; say so up front, so the
        # client opens a fresh connection next time instead of finding this one dead.
        headers = {**JSON_TYPE, **_bearer_header(plan.token), "Connection": "close"}
        return http.patch(plan.write_path, content=content, headers=headers).status_code

    return too_large


SENDERS: dict[str, Callable[[Plan, httpx.Client], int]] = {
    "ua-login": _ua_login,
    "secret-read": _read(lambda plan: plan.token),
    "secret-write": _write(lambda plan: plan.admin_token),
    "login-unknown-client": _login_unknown_client,
    # A new garbage token each time: no cache may keep refused tokens for ever.
    "read-garbage-token": _read(lambda _plan: secrets.token_urlsafe(48)),
    "read-revoked-token": _read(lambda plan: plan.revoked_token),
    "write-read-only": _write(lambda plan: plan.token),  # the identity only has the viewer role
    "body-too-large": _too_large(chunked=False),
    "chunked-too-large": _too_large(chunked=True),
}


# --- recording --------------------------------------------------------------------------------------


class Recorder:
    """Statuses for the whole run and latencies per window, shared by the client threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: list[float] = []
        self.statuses: Counter[tuple[str, str]] = Counter()
        self.late = 0  # sends more than one interval behind the schedule

    def record(self, kind: str, status: str, latency_ms: float) -> None:
        with self._lock:
            self._window.append(latency_ms)
            self.statuses[(kind, status)] += 1

    def mark_late(self) -> None:
        with self._lock:
            self.late += 1

    def take_window(self) -> list[float]:
        with self._lock:
            window, self._window = self._window, []
        return window

    def unexpected(self) -> dict[str, int]:
        with self._lock:
            return {
                f"{kind} {status}": count
                for (kind, status), count in sorted(self.statuses.items())
                if status != str(EXPECTED[kind])
            }

    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values())


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for an empty window."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(fraction * len(ordered)) - 1)], 2)


@dataclass
class Sample:
    at_s: float  # seconds since the load started
    requests: int  # answered in the window that ends here
    p50_ms: float | None
    p99_ms: float | None
    rss_mb: dict[int, float]  # per worker pid
    fds: dict[int, int]
    sockets: dict[int, int]  # the part of `fds` that are sockets (connections, listener)
    # The part of `fds` that are SQLite files (database, WAL, writer lock: three per pooled
    # connection). The pool keeps the connections a burst made it open, up to its size, so this
    # part may step up during a run without anything leaking; it is reported, not gated.
    database: dict[int, int] = field(default_factory=dict)

    @property
    def fd_total(self) -> int:
        return sum(self.fds.values())

    @property
    def gated_fds(self) -> int:
        """Descriptors that must stay flat: all but the database connections' files."""
        return self.fd_total - sum(self.database.values())


_SQLITE_FILES = (".db", ".db-wal", ".db-shm", ".db-writer.lock")


def open_fds(pid: int) -> tuple[int, int, int]:
    """How many descriptors `pid` has open, how many are sockets, how many are SQLite files."""
    total = sockets = database = 0
    with contextlib.suppress(OSError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            total += 1
            with contextlib.suppress(OSError):  # closed since the listing
                target = os.readlink(fd.path)
                sockets += target.startswith("socket:")
                database += target.endswith(_SQLITE_FILES)
    return total, sockets, database


def take_sample(at_s: float, window: list[float], pids: list[int]) -> Sample:
    fds = {pid: open_fds(pid) for pid in pids}
    return Sample(
        at_s=round(at_s, 2),
        requests=len(window),
        p50_ms=percentile(window, 0.50),
        p99_ms=percentile(window, 0.99),
        rss_mb={pid: rss_mb([pid]) for pid in pids},
        fds={pid: total for pid, (total, _, _) in fds.items()},
        sockets={pid: sockets for pid, (_, sockets, _) in fds.items()},
        database={pid: database for pid, (_, _, database) in fds.items()},
    )


# --- load ---------------------------------------------------------------------------------------------


@dataclass
class Soak:
    """What a soak observed; `judge` decides whether it passed."""

    rate: float
    seconds: float
    samples: list[Sample]
    statuses: dict[str, int]  # "kind status" -> count
    unexpected: dict[str, int]
    requests: int
    late: int

    @property
    def achieved_rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def client_loop(
    number: int,
    threads: int,
    rate: float,
    start: float,
    stop: threading.Event,
    plan: Plan,
    base_url: str,
    recorder: Recorder,
    cycle: list[str],
) -> None:
    """Thread `number` of `threads` owns every `threads`-th slot of the global schedule, so the
    total rate is fixed whatever the answers; a late thread sends at once rather than skip."""
    interval = threads / rate
    slot = number
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as http:
        while True:
            due = start + slot / rate
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            if stop.is_set():
                return
            if delay < -interval:
                recorder.mark_late()
            kind = cycle[slot % len(cycle)]
            began = time.perf_counter()
            try:
                status = str(SENDERS[kind](plan, http))
            except httpx.HTTPError as exc:
                status = f"error:{type(exc).__name__}"
            recorder.record(kind, status, (time.perf_counter() - began) * 1000)
            slot += threads


def soak(
    base_url: str,
    plan: Plan,
    pids: Callable[[], list[int]],
    *,
    rate: float,
    seconds: float,
    sample_seconds: float,
    threads: int,
    on_sample: Callable[[Sample], None] | None = None,
) -> Soak:
    recorder = Recorder()
    stop = threading.Event()
    cycle = schedule()
    start = time.monotonic()
    workers = [
        threading.Thread(
            target=client_loop,
            args=(n, threads, rate, start, stop, plan, base_url, recorder, cycle),
            name=f"soak-client-{n}",
            daemon=True,
        )
        for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    samples: list[Sample] = []
    try:
        for k in range(1, math.ceil(seconds / sample_seconds) + 1):
            until = start + min(k * sample_seconds, seconds)
            time.sleep(max(0.0, until - time.monotonic()))
            sample = take_sample(time.monotonic() - start, recorder.take_window(), pids())
            samples.append(sample)
            if on_sample:
                on_sample(sample)
    finally:
        stop.set()
        for worker in workers:
            worker.join(CLIENT_TIMEOUT_S + 5)
    elapsed = min(time.monotonic() - start, seconds)
    return Soak(
        rate=rate,
        seconds=round(elapsed, 2),
        samples=samples,
        statuses={f"{kind} {status}": n for (kind, status), n in sorted(recorder.statuses.items())},
        unexpected=recorder.unexpected(),
        requests=recorder.total(),
        late=recorder.late,
    )


# --- judging --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gates:
    warmup_fraction: float = 0.10
    rss_tolerance: float = 0.10
    fd_tolerance: float = 0.10
    # A connection being opened or closed at the sampling instant moves the count by one or two.
    fd_slack: int = 3
    p99_factor: float = 2.0
    p99_floor_ms: float = 50.0
    min_rate_fraction: float = 0.90
    check_rss: bool = True
    check_p99: bool = True
    check_rate: bool = True


@dataclass(frozen=True)
class Verdict:
    gate: str
    ok: bool
    detail: str


def judge(run: Soak, gates: Gates) -> list[Verdict]:
    after = post_warmup(run.samples, gates.warmup_fraction * run.seconds)
    verdicts = [_statuses(run)]
    if len(after) < 2:
        return [*verdicts, Verdict("samples", False, f"{len(after)} sample(s) after warm-up; need 2")]
    verdicts.append(_same_workers(after))
    verdicts.append(_fds(after, gates))
    if gates.check_rss:
        verdicts.append(_rss(after, gates))
    if gates.check_p99:
        verdicts.append(_p99(after, gates))
    if gates.check_rate:
        floor = gates.min_rate_fraction * run.rate
        detail = f"{run.achieved_rate:.1f} req/s of {run.rate:g} ({run.late} sends late)"
        verdicts.append(Verdict("rate", run.achieved_rate >= floor, detail))
    return verdicts


def post_warmup(samples: list[Sample], warmup_s: float) -> list[Sample]:
    """The samples whose whole window lies after the warm-up (a window ends at its sample)."""
    starts = [0.0] + [s.at_s for s in samples[:-1]]
    return [s for s, start in zip(samples, starts, strict=True) if start >= warmup_s]


def _statuses(run: Soak) -> Verdict:
    missing = [k.name for k in KINDS if not any(key.startswith(f"{k.name} ") for key in run.statuses)]
    if missing:
        return Verdict("statuses", False, f"kinds never sent: {missing}")
    if run.unexpected:
        return Verdict("statuses", False, f"unexpected: {run.unexpected}")
    return Verdict("statuses", True, f"{run.requests} requests, each with its kind's status")


def _same_workers(after: list[Sample]) -> Verdict:
    first = sorted(after[0].rss_mb)
    changed = [s.at_s for s in after if sorted(s.rss_mb) != first]
    detail = f"workers {first}" + (f"; changed at {changed[0]}s" if changed else "")
    return Verdict("workers", not changed, detail)


def _fds(after: list[Sample], gates: Gates) -> Verdict:
    base = after[0].gated_fds
    allowed = max(gates.fd_tolerance * base, gates.fd_slack)
    counts = [s.gated_fds for s in after]
    ok = all(abs(c - base) <= allowed for c in counts)
    database = [sum(s.database.values()) for s in after]
    return Verdict(
        "fds",
        ok,
        f"non-database {base} -> {counts[-1]} (min {min(counts)}, max {max(counts)}, ±{allowed:g}); "
        f"SQLite files {database[0]} -> {database[-1]} (pooled connections, not gated)",
    )


def _rss(after: list[Sample], gates: Gates) -> Verdict:
    details, ok = [], True
    for pid, base in after[0].rss_mb.items():
        values = [s.rss_mb.get(pid, 0.0) for s in after]
        worst = max(abs(v - base) for v in values) / base if base else 1.0
        ok = ok and worst <= gates.rss_tolerance
        details.append(f"{pid}: {base:.1f} -> {values[-1]:.1f} MB (max drift {worst:.1%})")
    return Verdict("rss", ok, "; ".join(details))


def _p99(after: list[Sample], gates: Gates) -> Verdict:
    first, last = after[0].p99_ms, after[-1].p99_ms
    if first is None or last is None:
        return Verdict("p99", False, "a window without answers")
    ok = last <= max(gates.p99_factor * first, gates.p99_floor_ms)
    limit = f"<= max({gates.p99_factor:g}x, {gates.p99_floor_ms:g} ms)"
    return Verdict("p99", ok, f"first {first:.1f} ms, last {last:.1f} ms ({limit})")


# --- running it -----------------------------------------------------------------------------------


@contextlib.contextmanager
def soak_server(
    work_dir: Path, database_url: str | None, workers: int, max_body_bytes: int
) -> Iterator[tuple[str, Callable[[], list[int]]]]:
    """A `tessera server` on a scratch database: its base URL and a function listing its workers."""
    with scratch_postgres(database_url) as url:
        env = tessera_env(work_dir / "data", url, UNUSED_AUTHORITY)
        env.update(
            TESSERA_RATE_LIMIT_LOGIN_PER_IP=LOGIN_LIMIT,
            TESSERA_RATE_LIMIT_LOGIN_PER_IDENTITY=LOGIN_LIMIT,
            TESSERA_MAX_BODY_BYTES=str(max_body_bytes),
        )
        port = free_port()
        with running_server(env, port, workers, work_dir / "server.log") as base_url:
            yield base_url, workers_of(_listener_pid(port))


def workers_of(leader: int) -> Callable[[], list[int]]:
    """The processes serving requests: bench.compare's `server_pids` without multiprocessing's
    resource tracker, which uvicorn's supervisor starts beside its workers."""
    everything = server_pids(leader)

    def workers() -> list[int]:
        return [pid for pid in everything() if b"resource_tracker" not in _cmdline(pid)]

    return workers


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def run_soak(
    work_dir: Path,
    *,
    database_url: str | None = None,
    workers: int = 2,
    rate: float,
    seconds: float,
    sample_seconds: float,
    threads: int,
    max_body_bytes: int = 65536,
    on_sample: Callable[[Sample], None] | None = None,
) -> Soak:
    with soak_server(work_dir, database_url, workers, max_body_bytes) as (base_url, pids):
        plan = prepare(base_url, max_body_bytes)
        return soak(
            base_url,
            plan,
            pids,
            rate=rate,
            seconds=seconds,
            sample_seconds=sample_seconds,
            threads=threads,
            on_sample=on_sample,
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the load (default 30)")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second in total (100)")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="window length (default 10)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    parser.add_argument("--database-url", help="PostgreSQL server to use (a scratch database is made on it)")
    parser.add_argument(
        "--max-body-bytes", type=int, default=65536, help="TESSERA_MAX_BODY_BYTES for the run (65536)"
    )
    parser.add_argument("--no-save", action="store_true", help="do not write a JSON file")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.minutes <= 0 or args.sample_seconds <= 0 or args.threads < 1:
        parser.error("--rate, --minutes, --sample-seconds and --threads must be positive")
    if args.minutes * 60 < 3 * args.sample_seconds:
        parser.error("the run must last at least three windows (--minutes vs --sample-seconds)")
    return args


def row(sample: Sample) -> str:
    p50 = "-" if sample.p50_ms is None else f"{sample.p50_ms:.1f}"
    p99 = "-" if sample.p99_ms is None else f"{sample.p99_ms:.1f}"
    rss = " ".join(f"{v:.1f}" for v in sample.rss_mb.values())
    fds = " ".join(str(v) for v in sample.fds.values())
    return f"{sample.at_s:>8.1f} {sample.requests:>8} {p50:>8} {p99:>8}  {rss:<16} {fds}"


HEADER = f"{'t (s)':>8} {'answers':>8} {'p50 ms':>8} {'p99 ms':>8}  {'RSS MB/worker':<16} FDs/worker"


def status_table(run: Soak) -> str:
    header = f"{'kind':<22} {'expected':>8}  answers by status"
    lines = [header, "-" * len(header)]
    for kind in KINDS:
        prefix = f"{kind.name} "
        got = [(key.removeprefix(prefix), n) for key, n in run.statuses.items() if key.startswith(prefix)]
        answers = ", ".join(f"{status}: {n}" for status, n in got) or "none"
        lines.append(f"{kind.name:<22} {kind.expected:>8}  {answers}")
    return "\n".join(lines)


def save(run: Soak, verdicts: list[Verdict], args: argparse.Namespace, load_before: list[float]) -> Path:
    from tessera import __version__

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"soak-{stamp}.json"
    payload = {
        "created": stamp,
        "environment": {
            "tessera": __version__,
            "database": "postgresql" if args.database_url else "sqlite",
            "workers": args.workers,
            "threads": args.threads,
            "max_body_bytes": args.max_body_bytes,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "rate": run.rate,
        "achieved_rate": round(run.achieved_rate, 2),
        "seconds": run.seconds,
        "requests": run.requests,
        "late": run.late,
        "expected": EXPECTED,
        "statuses": run.statuses,
        "unexpected": run.unexpected,
        "samples": [asdict(s) for s in run.samples],
        "verdicts": [asdict(v) for v in verdicts],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
    work_dir = SCRATCH_DIR / f"soak-{uuid.uuid4().hex[:8]}"
    work_dir.mkdir()
    load_before = [round(x, 2) for x in os.getloadavg()]
    print(f"soak: {args.rate:g} req/s for {args.minutes:g} min, a sample every {args.sample_seconds:g}s")
    print(HEADER, flush=True)
    try:
        run = run_soak(
            work_dir,
            database_url=args.database_url,
            workers=args.workers,
            rate=args.rate,
            seconds=args.minutes * 60,
            sample_seconds=args.sample_seconds,
            threads=args.threads,
            max_body_bytes=args.max_body_bytes,
            on_sample=lambda sample: print(row(sample), flush=True),
        )
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    verdicts = judge(run, Gates())
    print(f"\n{run.requests} requests, {run.achieved_rate:.1f} req/s")
    print(status_table(run))
    print()
    for verdict in verdicts:
        print(f"{'PASS' if verdict.ok else 'FAIL'}  {verdict.gate:<9} {verdict.detail}")
    if not args.no_save:
        print(f"\nresults written to {save(run, verdicts, args, load_before).relative_to(BENCH_DIR.parent)}")
    return 0 if all(v.ok for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
