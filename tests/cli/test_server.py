"""`tessera server` as a real process on the embedded default: a newcomer's first command just works."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 15.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("tessera")  # the installed console script
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "tessera", *args]


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # polling a real process for start-up, not waiting on time-based logic
    pytest.fail(f"server not ready after {START_TIMEOUT_S}s:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)
    return process.returncode


@pytest.mark.slow
def test_server_starts_on_the_embedded_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "tessera-data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update({"TESSERA_DATA_DIR": str(data_dir), "TESSERA_PORT": str(port)})
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _command("server"), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        status = httpx.get(f"{url}/api/status", timeout=5)
        assert status.status_code == 200
        assert status.json()["message"] == "Ok"
        assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
        bootstrap = httpx.post(
            f"{url}/api/v1/admin/bootstrap/",
            data={"email": "first@example.com", "password": "correct horse battery", "organization": "First"},
            timeout=30,
        )
        assert bootstrap.status_code == 200, bootstrap.text
    finally:
        code = _stop(process)
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal so the exit status reports it.
    assert code in (0, -signal.SIGTERM), log.read_text(errors="replace")
    assert "Application shutdown complete" in log.read_text(errors="replace")
    assert (data_dir / "tessera.db").is_file()
    for key_file in ("root.key", "auth.secret"):
        assert stat.S_IMODE((data_dir / key_file).stat().st_mode) == 0o600, key_file
    text = log.read_text(errors="replace")
    assert "generated a development key" in text
    # The generated keys are announced by path, never printed.
    for key_file in ("root.key", "auth.secret"):
        assert (data_dir / key_file).read_text().strip() not in text
