"""`python -m tests.zygote`: import Tessera once, then fork a server process per request.

Importing the server costs seconds of CPU; multi-process tests start many servers (replicas,
restarts after SIGKILL). This process pays the import once and forks each server from the
warm interpreter, so a start costs milliseconds. Every forked server is a separate process with
its own pid, sockets, engine and pools, built after the fork (nothing but imported code is
shared), exactly as with a cold start.

Protocol: one JSON object per line on stdin, {"port": int, "env": {...}, "log": path}; the pid
of the forked server is answered on stdout. On end of input every server still running is
stopped (SIGTERM, then SIGKILL) and the zygote exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from typing import Any

# Warm imports: everything a server needs, loaded before any fork.
import uvicorn

import tessera.app
import tessera.cli.server
import tessera.store.registry  # completes the models' metadata

_children: set[int] = set()


def _reap(_signum: int, _frame: Any) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children.discard(pid)


def _serve(spec: dict[str, Any]) -> None:
    """In the child: detach from the zygote's pipes and run one server until it is stopped."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.clear()
    os.environ.update(spec["env"])
    uvicorn.run(
        tessera.cli.server.app_factory,
        factory=True,
        host="127.0.0.1",
        port=int(spec["port"]),
        log_level="warning",
        access_log=False,
    )


def _stop_all() -> None:
    for pid in list(_children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _children and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in list(_children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def main() -> None:
    signal.signal(signal.SIGCHLD, _reap)
    assert tessera.app.create_app is not None
    for line in sys.stdin:
        spec = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _serve(spec)
            finally:
                os._exit(0)
        _children.add(pid)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
    _stop_all()


if __name__ == "__main__":
    main()
