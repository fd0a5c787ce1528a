"""The agent: atomic writes, token sink, sandboxed templates, re-render on change, clean shutdown."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tessera_agent.config import AgentConfig
from tessera_agent.runner import Agent
from tessera_agent.sinks import FileSink, atomic_write
from tessera_agent.templates import Defaults, Query, Renderer, RenderError, SecretCache
from tessera_sdk import Client, SecretList, TokenAuth, UniversalAuth
from tessera_sdk.models import Secret
from tests.sdk.fakes import FakeTessera, FrozenClock, serve

# --- atomic writes ---------------------------------------------------------------------------------


def test_atomic_write_sets_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "app.env"
    atomic_write(target, b"one", 0o640)
    atomic_write(target, b"two", 0o640)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["app.env"]


def test_permissions_are_set_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        assert Path(src).read_bytes() == b"secret"  # complete and flushed before it becomes visible
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write(tmp_path / "f", b"secret", 0o600)
    assert seen == [0o600]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"new", 0o600)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    """A reader hammering the file while it is rewritten many times sees only whole versions."""
    target = tmp_path / "big.env"
    versions = [bytes([ord("a") + i]) * 256_000 for i in range(4)]
    atomic_write(target, versions[0], 0o600)
    done = threading.Event()
    bad: list[int] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not done.is_set():
            data = target.read_bytes()
            reads += 1
            if data not in versions:
                bad.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(150):
            atomic_write(target, versions[i % len(versions)], 0o600)
    finally:
        done.set()
        thread.join(10)
    assert bad == []
    assert reads > 0


def test_file_sink_writes_0600_and_only_on_change(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "token")
    assert sink.write("tok-1") is True
    assert sink.write("tok-1") is False
    assert sink.write("tok-2") is True
    assert (tmp_path / "token").read_text() == "tok-2"
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


# --- templates -------------------------------------------------------------------------------------


def fixed_cache(values: dict[str, str]) -> SecretCache:
    secrets = [Secret(key=k, value=v) for k, v in values.items()]
    return SecretCache(lambda query, etag: SecretList(secrets=secrets, etag='"e"'))


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ secrets.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% for s in secrets() %}{{ s.__class__.__init__.__globals__ }}{% endfor %}",
    ],
    ids=["str-mro", "function-globals", "cycler-globals", "object-globals"],
)
def test_sandbox_blocks_escapes(template: str) -> None:
    renderer = Renderer(fixed_cache({"A": "1"}), Defaults("p", "dev"))
    with pytest.raises(RenderError):
        renderer.render(template)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ undefined_name }}", "undefined"),
        ("{{ secret('MISSING') }}", "MISSING"),
        ("{% include 'other.j2' %}", "template error"),
        ("{% for %}", "template error"),
        ("{{ secret('A') | int(base=7) + [] }}", "template error: TypeError"),
    ],
    ids=["strict-undefined", "missing-secret", "no-includes", "syntax", "python-error"],
)
def test_render_errors(template: str, message: str) -> None:
    renderer = Renderer(fixed_cache({"A": "1"}), Defaults("p", "dev"))
    with pytest.raises(RenderError, match=message):
        renderer.render(template)


def test_render_records_the_folders_it_read() -> None:
    renderer = Renderer(fixed_cache({"A": "1", "B": "2"}), Defaults("p", "dev", "/app"))
    text = (
        "{% for s in secrets() %}{{ s.key }}={{ s.value }}\n{% endfor %}"
        "x={{ secret('A', environment='prod') }}\n"
    )
    output, used = renderer.render(text)
    assert output == "A=1\nB=2\nx=1\n"
    assert used == {Query("p", "dev", "/app"), Query("p", "prod", "/app")}


def test_no_default_project_is_an_error() -> None:
    with pytest.raises(RenderError, match="no project"):
        Renderer(fixed_cache({}), Defaults()).render("{{ secrets() }}")


# --- the agent against the in-memory server ------------------------------------------------------


class Commands:
    def __init__(self) -> None:
        self.runs: list[list[str]] = []

    def __call__(self, args: Sequence[str], timeout: float) -> int:
        self.runs.append(list(args))
        return 0


TEMPLATE = "{% for s in secrets() %}{{ s.key }}={{ s.value | tojson }}\n{% endfor %}"


def make_agent(tmp_path: Path, api: FakeTessera, **extra: Any) -> tuple[Agent, Commands]:
    api.add_client("cid", "secret")
    config = AgentConfig.model_validate(
        {
            "site_url": "https://tessera.test",
            "auth": {"method": "universal-auth", "client_id": "cid", "client_secret": "secret"},
            "project": "proj",
            "environment": "prod",
            "polling_interval": 300,
            "sinks": [{"path": str(tmp_path / "token")}],
            "templates": [
                {
                    "template": TEMPLATE,
                    "destination": str(tmp_path / "app.env"),
                    "permissions": "0640",
                    "command": "reload-app --now",
                }
            ],
            **extra,
        }
    )
    client = Client(
        config.site_url, auth=UniversalAuth("cid", "secret"), transport=api.transport(), clock=api.clock
    )
    commands = Commands()
    return Agent(config, client, command_runner=commands, clock=api.clock), commands


@pytest.fixture
def api() -> FakeTessera:
    api = FakeTessera(FrozenClock(), ttl=600, max_ttl=86400)
    api.put("proj", "prod", "/", "DB", "postgres://a")
    api.put("proj", "prod", "/", "KEY", "k1")
    return api


def test_first_tick_writes_token_and_template(tmp_path: Path, api: FakeTessera) -> None:
    agent, commands = make_agent(tmp_path, api)
    agent.tick()
    token = (tmp_path / "token").read_text()
    assert token in api.tokens
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert (tmp_path / "app.env").read_text() == 'DB="postgres://a"\nKEY="k1"\n'
    assert stat.S_IMODE((tmp_path / "app.env").stat().st_mode) == 0o640
    assert commands.runs == [["reload-app", "--now"]]
    assert agent.healthy()


def test_unchanged_secrets_cost_a_304_and_nothing_is_rewritten(tmp_path: Path, api: FakeTessera) -> None:
    agent, commands = make_agent(tmp_path, api)
    agent.tick()
    inode = (tmp_path / "app.env").stat().st_ino
    api.calls.clear()
    agent.tick()
    lists = [c for c in api.calls if c.path == "/api/v4/secrets"]
    assert len(lists) == 1
    assert lists[0].headers.get("if-none-match")
    assert (tmp_path / "app.env").stat().st_ino == inode
    assert commands.runs == [["reload-app", "--now"]]


def test_change_is_re_rendered_and_the_command_runs(tmp_path: Path, api: FakeTessera) -> None:
    agent, commands = make_agent(tmp_path, api)
    agent.tick()
    api.put("proj", "prod", "/", "KEY", "k2")
    agent.tick()
    assert (tmp_path / "app.env").read_text() == 'DB="postgres://a"\nKEY="k2"\n'
    assert len(commands.runs) == 2


def test_change_that_does_not_alter_the_output_does_not_rewrite(tmp_path: Path, api: FakeTessera) -> None:
    agent, commands = make_agent(tmp_path, api)
    api.put("proj", "prod", "/", "OTHER", "x")
    agent.templates[0].text = "DB={{ secret('DB') }}\n"
    agent.tick()
    inode = (tmp_path / "app.env").stat().st_ino
    api.put("proj", "prod", "/", "OTHER", "y")  # the folder changed, the rendered file does not
    agent.tick()
    assert (tmp_path / "app.env").stat().st_ino == inode
    assert len(commands.runs) == 1


def test_token_sink_follows_renewal(tmp_path: Path, api: FakeTessera) -> None:
    agent, _ = make_agent(tmp_path, api, polling_interval=3600)
    agent.tick()
    first = (tmp_path / "token").read_text()
    assert agent.next_wait() == pytest.approx(600 - 60)  # renew margin: 10 % of the TTL
    api.clock.advance(545)
    agent.tick()
    second = (tmp_path / "token").read_text()
    assert second != first
    assert second in api.tokens
    assert api.renewals == 1


def test_broken_template_does_not_stop_the_others(tmp_path: Path, api: FakeTessera) -> None:
    agent, _ = make_agent(
        tmp_path,
        api,
        templates=[
            {"template": "{{ secret('NOPE') }}", "destination": str(tmp_path / "bad")},
            {"template": "{{ secret('DB') }}", "destination": str(tmp_path / "good")},
        ],
    )
    agent.tick()
    assert not (tmp_path / "bad").exists()
    assert (tmp_path / "good").read_text() == "postgres://a"
    assert not agent.healthy()
    api.put("proj", "prod", "/", "NOPE", "now-here")
    agent.tick()  # failed templates are retried every tick
    assert (tmp_path / "bad").read_text() == "now-here"
    assert agent.healthy()


def test_run_loop_stops_when_asked(tmp_path: Path, api: FakeTessera) -> None:
    agent, _ = make_agent(tmp_path, api)
    stop = threading.Event()
    stop.set()
    agent.run(stop)  # returns at once; nothing blocks
    agent.client.close()


def test_server_without_etag_still_detects_changes(tmp_path: Path) -> None:
    values = {"A": "1"}

    def listing(query: Query, etag: str | None) -> SecretList:
        assert etag is None
        return SecretList(secrets=[Secret(key=k, value=v) for k, v in values.items()])

    cache = SecretCache(listing)
    cache.get(Query("p", "dev", "/"))
    assert cache.poll() == set()
    values["A"] = "2"
    assert cache.poll() == {Query("p", "dev", "/")}


# --- the real process: SIGTERM and a bad config ----------------------------------------------------


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    for _ in range(400):  # waiting for another process to reach a state, not for time to pass
        if path.exists() or proc.poll() is not None:
            return
        time.sleep(0.025)


def test_agent_process_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    api = FakeTessera()
    api.add_client("cid", "secret")
    api.put("proj", "prod", "/", "DB", "postgres://a")
    with serve(api) as url:
        (tmp_path / "secret").write_text("secret")
        (tmp_path / "agent.yaml").write_text(
            f"site_url: {url}\nauth: {{method: universal-auth, client_id: cid, client_secret_file: secret}}\n"
            "project: proj\nenvironment: prod\npolling_interval: 60\n"
            "sinks: [{path: token}]\ntemplates: [{template: '{{ secret(\"DB\") }}', destination: out.env}]\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", "agent", "--config", str(tmp_path / "agent.yaml")],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(tmp_path / "out.env", proc)
            assert (tmp_path / "out.env").read_text() == "postgres://a"
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    assert "received SIGTERM, stopping" in stderr
    assert "Traceback" not in stderr
    assert "secret" not in (tmp_path / "token").read_text()


def test_agent_command_rejects_bad_config(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text("site_url: https://t.example\nauth: {method: universal-auth}\n")
    result = subprocess.run(
        [sys.executable, "-m", "tessera", "agent", "--config", str(tmp_path / "agent.yaml"), "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "auth.client_id: Field required" in result.stderr
    assert "Traceback" not in result.stderr


def test_agent_once_renders_and_exits(tmp_path: Path) -> None:
    api = FakeTessera()
    api.put("proj", "dev", "/", "A", "1")
    token = api.issue()
    with serve(api) as url:
        (tmp_path / "agent.yaml").write_text(
            f"site_url: {url}\nauth: {{method: token, token: {token}}}\nproject: proj\nenvironment: dev\n"
            "templates: [{template: 'A={{ secret(\"A\") }}', destination: a.env}]\n"
        )
        result = subprocess.run(
            [sys.executable, "-m", "tessera", "agent", "--config", str(tmp_path / "agent.yaml"), "--once"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.env").read_text() == "A=1"


def test_token_auth_client_for_agent_is_not_renewed(tmp_path: Path, api: FakeTessera) -> None:
    config = AgentConfig.model_validate(
        {
            "site_url": "https://t.test",
            "auth": {"method": "token", "token": "x"},
            "sinks": [{"path": str(tmp_path / "t")}],
        }
    )
    client = Client(config.site_url, auth=TokenAuth(api.issue()), transport=api.transport(), clock=api.clock)
    agent = Agent(config, client, clock=api.clock)
    agent.tick()
    assert agent.next_wait() == config.polling_interval  # nothing to renew
    client.close()
