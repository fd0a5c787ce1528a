"""Benchmark a real `tessera server` with wrk and print req/s, p50 and p99 per scenario.

    .venv/bin/python -m bench.run [--database-url URL] [--workers N] [--duration S]

The server runs as a subprocess on 127.0.0.1 with a scratch data directory (embedded SQLite by
default). With --database-url the run uses a scratch database created beside the one named and
dropped afterwards, so the named database's contents are never touched. Results are printed as a
table and written as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.scenarios import SCENARIOS, BenchContext, Scenario

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SCRATCH_DIR = RESULTS_DIR / "tmp"  # git-ignored
LUA_SCRIPT = BENCH_DIR / "wrk" / "scenario.lua"
RESULT_MARKER = "BENCH_RESULT "
HOST = "127.0.0.1"  # loopback only: the benchmark never listens on or dials another address
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
BOOTSTRAP = {"email": "bench@example.com", "password": "bench-password-0123", "organization": "Bench"}


class BenchError(RuntimeError):
    """A problem that ends the run with a message (no traceback needed)."""


@dataclass(frozen=True)
class Result:
    scenario: str
    method: str
    path: str
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "method": self.method,
            "path": self.path,
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "rps": round(self.rps, 1),
            "latency_ms": {
                "p50": self.p50_ms,
                "p90": self.p90_ms,
                "p99": self.p99_ms,
                "mean": self.mean_ms,
                "max": self.max_ms,
            },
            "errors": self.errors,
        }


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL server to use (a scratch database is made on it)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per scenario (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unrecorded load first (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="wrk threads")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these scenarios")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--no-save", action="store_true", help="do not write a JSON file")
    args = parser.parse_args(argv)
    if args.threads > args.connections:
        parser.error("--threads cannot exceed --connections")
    return args


def selected_scenarios(only: list[str] | None) -> list[Scenario]:
    if not only:
        return list(SCENARIOS)
    known = {scenario.name: scenario for scenario in SCENARIOS}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise BenchError(f"unknown scenario(s) {unknown}; known: {sorted(known)}")
    return [known[name] for name in only]


# --- database ---------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(url: str | None) -> Iterator[str | None]:
    """None for the embedded default; else a new database beside `url`, dropped at the end."""
    if url is None:
        yield None
        return
    from sqlalchemy.engine import make_url

    from tessera.store.engine import make_engine

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BenchError("--database-url must be a PostgreSQL URL (SQLite is the default already)")
    name = f"tessera_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# --- server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TESSERA_")}
    env.update({"TESSERA_DATA_DIR": str(data_dir), "TESSERA_LOG_LEVEL": "warning"})
    if database_url:
        env["TESSERA_DATABASE_URL"] = database_url
    return env


def tessera_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tessera", *args]


@contextlib.contextmanager
def running_server(env: dict[str, str], port: int, workers: int, log_path: Path) -> Iterator[str]:
    if "TESSERA_DATABASE_URL" in env:
        # An external database is never migrated implicitly by the server: do it explicitly.
        subprocess.run(
            tessera_command("db", "upgrade"), env=env, check=True, capture_output=True, timeout=120
        )
    command = tessera_command("server", "--host", HOST, "--port", str(port), "--workers", str(workers))
    with log_path.open("wb") as log:
        # A session of its own, so the server and its workers can be stopped as one group.
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://{HOST}:{port}"
    try:
        wait_ready(process, base_url, log_path)
        yield base_url
    finally:
        stop(process)


def wait_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the server exited with {process.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"the server was not ready after {READY_TIMEOUT_S:.0f}s:\n{tail(log_path)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def bootstrap(base_url: str) -> str:
    response = httpx.post(f"{base_url}/api/v1/admin/bootstrap", json=BOOTSTRAP, timeout=30)
    if response.status_code != 200:
        raise BenchError(f"bootstrap failed: {response.status_code} {response.text}")
    token: str = response.json()["identity"]["credentials"]["token"]
    return token


# --- load -------------------------------------------------------------------------------------


def run_wrk(
    args: argparse.Namespace, url: str, scenario: Scenario, body: str | None, token: str, seconds: int
) -> dict[str, Any]:
    env = dict(os.environ)
    env["BENCH_METHOD"] = scenario.method
    env["BENCH_AUTHORIZATION"] = f"Bearer {token}" if scenario.authenticated else ""
    env["BENCH_BODY"] = body or ""
    command = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={LUA_SCRIPT}",
        url,
    ]
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return result
    raise BenchError(
        f"wrk gave no result (exit {completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
    )


def measure(args: argparse.Namespace, context: BenchContext, scenario: Scenario) -> Result:
    path, body = scenario.resolved(context)
    url = f"{context.base_url}{path}"
    # One plain request first: a scenario that fails would otherwise be measured as fast errors.
    check = httpx.request(scenario.method, url, content=body, headers=_headers(scenario, body, context.token))
    if check.status_code >= 400:
        raise BenchError(
            f"{scenario.name}: {scenario.method} {path} answers {check.status_code}: {check.text}"
        )
    if args.warmup > 0:
        run_wrk(args, url, scenario, body, context.token, args.warmup)
    raw = run_wrk(args, url, scenario, body, context.token, args.duration)
    latency = raw["latency_us"]
    return Result(
        scenario=scenario.name,
        method=scenario.method,
        path=path,
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        mean_ms=round(latency["mean"] / 1000, 3),
        max_ms=latency["max"] / 1000,
        errors=raw["errors"],
    )


def _headers(scenario: Scenario, body: str | None, token: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if scenario.authenticated else {}
    if body:
        headers["Content-Type"] = "application/json"
    return headers


# --- report -----------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    header = f"{'scenario':<18} {'endpoint':<32} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
    rows = [header, "-" * len(header)]
    for r in results:
        endpoint = f"{r.method} {r.path.split('?')[0]}"  # the query is in the JSON file
        errors = sum(r.errors.values())
        rows.append(
            f"{r.scenario:<18} {endpoint:<32.32} {r.rps:>9.1f} {r.p50_ms:>9.2f} {r.p99_ms:>9.2f} {errors:>7}"
        )
    return "\n".join(rows)


def environment(args: argparse.Namespace, database: str, load_before: list[float]) -> dict[str, Any]:
    from tessera import __version__

    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    git = subprocess.run(
        ["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "tessera": __version__,
        "commit": git.stdout.strip() or None,
        "database": database,
        "workers": args.workers,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "wrk": (wrk_version.stdout + wrk_version.stderr).strip().split("\n")[0] or None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        # Other work on the machine skews the numbers; the 1-minute load average says how much.
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def save(results: list[Result], env: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{stamp}-{env['database']}-w{env['workers']}.json"
    payload = {"created": stamp, "environment": env, "results": [r.to_json() for r in results]}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed. Install it (Debian/Ubuntu: `sudo apt-get install -y wrk`) and run again.",
            file=sys.stderr,
        )
        return 2
    try:
        scenarios = selected_scenarios(args.only)
        results, env = execute(args, scenarios)
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print()
    print(
        f"Tessera {env['tessera']} on {env['database']}, {args.workers} worker(s), "
        f"{args.connections} connections, {args.duration}s per scenario, {env['cpus']} CPUs, "
        f"load average {env['load_average_before'][0]} before / {env['load_average_after'][0]} after"
    )
    print(table(results))
    if not args.no_save:
        print(f"\nresults written to {save(results, env).relative_to(BENCH_DIR.parent)}")
    failed = [r.scenario for r in results if sum(r.errors.values())]
    if failed:
        print(f"\nscenarios with errors (non-2xx/3xx or socket errors): {failed}", file=sys.stderr)
        return 1
    return 0


def execute(args: argparse.Namespace, scenarios: list[Scenario]) -> tuple[list[Result], dict[str, Any]]:
    SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
    run_dir = SCRATCH_DIR / f"run-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir()
    port = args.port or free_port()
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        with scratch_database(args.database_url) as database_url:
            database = "postgresql" if database_url else "sqlite"
            env = server_env(run_dir / "data", database_url)
            with running_server(env, port, args.workers, run_dir / "server.log") as base_url:
                token = bootstrap(base_url)
                auth = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=base_url, headers=auth, timeout=30) as api:
                    context = BenchContext(base_url=base_url, token=token, api=api)
                    results = []
                    for scenario in scenarios:
                        print(f"running {scenario.name} ({scenario.method} {scenario.path}) ...", flush=True)
                        results.append(measure(args, context, scenario))
        return results, environment(args, database, load_before)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
