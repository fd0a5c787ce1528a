"""A private PostgreSQL server in a temporary directory, on its own port, that a test may stop,
restart or kill without touching the machine's shared PostgreSQL.

Built from the installed server binaries (`/usr/lib/postgresql/*/bin`, or PG_BIN). When the
tests run as root, the server runs as the `postgres` user, since PostgreSQL refuses root.
Skips with a clear message when no binaries are found.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import free_port

BIN_ENV = "PG_BIN"


def find_bin_dir() -> Path | None:
    configured = os.environ.get(BIN_ENV)
    if configured:
        return Path(configured)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((c for c in candidates if (c / "pg_ctl").exists() and (c / "initdb").exists()), None)


@dataclass
class PrivatePostgres:
    bin_dir: Path
    data_dir: Path
    port: int
    run_as: str | None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}\n{result.stderr}")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        log = str(self.data_dir / "server.log")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", log, "-w", "-t", "30", action, *extra)

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` aborts open transactions and closes connections, like a restart or failover."""
        self._pg_ctl("stop", "-m", mode)

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.database_url(name)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(f"no PostgreSQL server binaries found (install postgresql or set {BIN_ENV})")
    run_as = "postgres" if os.geteuid() == 0 else None
    # Not under pytest's tmp dir: that is private to root, and the server may run as postgres.
    root = Path(tempfile.mkdtemp(prefix="tessera-pg-"))
    data_dir = root / "data"
    if run_as is not None:
        entry = pwd.getpwnam(run_as)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PrivatePostgres(bin_dir=bin_dir, data_dir=data_dir, port=free_port(), run_as=run_as)
    try:
        server._run(
            "initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        settings = (
            f"\nport = {server.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
            "fsync = on\nmax_connections = 100\n"
        )
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        server.start()
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a private PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        with suppress(RuntimeError, subprocess.TimeoutExpired):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
