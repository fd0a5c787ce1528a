"""The agent loop: authenticate, keep the token fresh in its sinks, render templates, watch for changes."""

from __future__ import annotations

import hashlib
import logging
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

from tessera_agent.config import AgentConfig, ConfigError, TemplateConfig
from tessera_agent.sinks import FileSink, atomic_write
from tessera_agent.templates import Defaults, Query, Renderer, RenderError, SecretCache
from tessera_sdk import Client, TesseraError
from tessera_sdk.models import SecretList

logger = logging.getLogger("tessera_agent")

CommandRunner = Callable[[Sequence[str], float], int]


def run_command(args: Sequence[str], timeout: float) -> int:
    """Run a post-change command without a shell; its exit code (-1 on timeout or not found)."""
    try:
        return subprocess.run(list(args), timeout=timeout, check=False).returncode  # noqa: S603
    except subprocess.TimeoutExpired:
        logger.error("command %s timed out after %ss", args[0], timeout)
    except OSError as exc:
        logger.error("command %s could not start: %s", args[0], exc.strerror)
    return -1


@dataclass
class _TemplateState:
    config: TemplateConfig
    text: str
    queries: set[Query] = field(default_factory=set)
    digest: str | None = None  # of the last written output
    failed: bool = True  # render again on the next tick


class Agent:
    """One agent; `run(stop)` until `stop` is set, or `tick()` step by step (tests)."""

    def __init__(
        self,
        config: AgentConfig,
        client: Client,
        *,
        command_runner: CommandRunner = run_command,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.client = client
        self._command_runner = command_runner
        self._clock = clock
        self.sinks = [FileSink(s.path, s.permissions) for s in config.sinks]
        self.cache = SecretCache(self._list)
        self.renderer = Renderer(self.cache, Defaults(config.project, config.environment, config.path))
        self.templates = [_TemplateState(t, _template_text(t)) for t in config.templates]

    def _list(self, query: Query, etag: str | None) -> SecretList:
        return self.client.secrets.list(query.project, query.environment, query.path, if_none_match=etag)

    # --- one step -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Refresh the token if due, poll for changes, re-render what changed."""
        token = self.client.tokens.token()
        for sink in self.sinks:
            if sink.write(token):
                logger.info("token written to %s", sink.path)
        changed = self.cache.poll() if any(t.queries for t in self.templates) else set()
        for state in self.templates:
            if state.failed or state.queries & changed:
                self._render(state)

    def _render(self, state: _TemplateState) -> None:
        destination = state.config.destination
        try:
            output, state.queries = self.renderer.render(state.text)
        except (RenderError, TesseraError) as exc:
            # One broken template (or unreadable folder) must not stop the others.
            state.failed = True
            logger.error("cannot render %s: %s", destination, exc)
            return
        state.failed = False
        data = output.encode()
        digest = hashlib.sha256(data).hexdigest()
        if digest == state.digest and destination.exists():
            return
        atomic_write(destination, data, state.config.permissions)
        state.digest = digest
        logger.info("rendered %s", destination)
        if state.config.command:
            self._run_after_change(state.config)

    def _run_after_change(self, config: TemplateConfig) -> None:
        args = shlex.split(config.command) if isinstance(config.command, str) else list(config.command or [])
        if args:
            code = self._command_runner(args, config.command_timeout)
            log = logger.info if code == 0 else logger.error
            log("command %s exited with %s", args[0], code)

    def healthy(self) -> bool:
        """Every template rendered on its last attempt."""
        return not any(state.failed for state in self.templates)

    # --- the loop -----------------------------------------------------------------------------

    def next_wait(self) -> float:
        """Poll at the configured interval, but wake in time to renew the token."""
        wait = self.config.polling_interval
        state = self.client.tokens.state
        refresh_in = state.refresh_in(self._clock()) if state is not None else None
        if refresh_in is not None and self.sinks:
            wait = min(wait, refresh_in)
        return max(wait, 1.0)

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set. Transient failures are logged and retried on the next tick."""
        while not stop.is_set():
            try:
                self.tick()
            except TesseraError as exc:
                logger.error("tick failed: %s", exc)
            except OSError as exc:  # e.g. a sink directory that is not writable (yet)
                logger.error("tick failed: %s: %s", exc.strerror, exc.filename)
            if stop.wait(self.next_wait()):
                break
        logger.info("agent stopped")


def _template_text(config: TemplateConfig) -> str:
    if config.template is not None:
        return config.template
    assert config.source is not None
    try:
        return config.source.read_text()
    except OSError as exc:
        raise ConfigError(f"templates: cannot read {config.source} ({exc.strerror})") from None


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the loop after the current step (files are never left half-written)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
