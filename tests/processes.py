"""Real Tessera server processes for multi-process and fault tests.

Servers are forked from a zygote (`tests/zygote.py`) that imported Tessera once, so starting
one costs milliseconds instead of seconds of imports; each is still its own process, serving
`tessera.cli.server:app_factory` under uvicorn on a free loopback port, configured only through
TESSERA_* environment variables (nothing inherited from the caller's environment).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.conftest import TEST_AUTH_SECRET, TEST_ROOT_KEY

START_SECONDS = 60.0  # generous: a loaded machine may be slow to schedule the first request
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TESSERA_")}
    env.update(
        TESSERA_DATABASE_URL=database_url,
        TESSERA_AUTH_SECRET=TEST_AUTH_SECRET,
        TESSERA_ROOT_KEY=TEST_ROOT_KEY,
        TESSERA_DATA_DIR=str(data_dir),
        TESSERA_LOG_LEVEL="WARNING",
        TESSERA_AZURE_AUTHORITY_HOST="http://127.0.0.1:9",
    )
    env.update({f"TESSERA_{name.upper()}": value for name, value in settings.items()})
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Server:
    pid: int
    base: str
    port: int
    log: Path
    env: dict[str, str] = field(repr=False)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def alive(self) -> bool:
        return _alive(self.pid)

    def wait_ready(self, deadline: float) -> None:
        while True:  # waiting for start-up, not for time-based logic
            if not self.alive:
                raise AssertionError(f"server exited:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not become ready:\n{self.log_text()}")
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def wait_gone(self, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while self.alive:  # the zygote reaps it; waiting for that, not for time-based logic
            assert time.monotonic() < deadline, f"server {self.pid} did not exit"
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        self.signal(signal.SIGKILL)
        self.wait_gone()

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.wait_gone(10)
        except AssertionError:
            self.kill()


class Zygote:
    """A warm interpreter that forks servers on request (see tests/zygote.py)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / "zygote.log").open("ab") as errors:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.zygote"],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        self._count = 0

    def spawn(self, env: dict[str, str], *, port: int | None = None, name: str | None = None) -> Server:
        port = port or free_port()
        self._count += 1
        log = self.log_dir / f"{name or f'server-{self._count}'}.log"
        stdin: IO[str] | None = self._process.stdin
        stdout: IO[str] | None = self._process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps({"port": port, "env": env, "log": str(log)}) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise AssertionError((self.log_dir / "zygote.log").read_text(errors="replace"))
        return Server(pid=int(line), base=f"http://127.0.0.1:{port}", port=port, log=log, env=env)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


@contextmanager
def zygote(log_dir: Path) -> Iterator[Zygote]:
    forker = Zygote(log_dir)
    try:
        yield forker
    finally:
        forker.close()


@contextmanager
def servers(envs: list[dict[str, str]], log_dir: Path) -> Iterator[list[Server]]:
    """Start one server per environment; all are ready on entry, stopped on exit."""
    with zygote(log_dir) as forker:
        started = [forker.spawn(env) for env in envs]
        deadline = time.monotonic() + START_SECONDS
        for server in started:
            server.wait_ready(deadline)
        yield started
