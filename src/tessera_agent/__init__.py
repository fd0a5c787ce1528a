"""Tessera agent: keeps a token and rendered secret files up to date for a workload.

    tessera agent --config agent.yaml

Depends on `tessera_sdk` (and PyYAML, Jinja2); nothing from the server.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from tessera_agent.auth_methods import build_auth
from tessera_agent.config import AgentConfig, ConfigError, load_config
from tessera_agent.runner import Agent, install_stop_handlers
from tessera_sdk import Client


def make_agent(config: AgentConfig, *, environ: Mapping[str, str] | None = None) -> Agent:
    client = Client(config.site_url, auth=build_auth(config.auth, environ=environ))
    return Agent(config, client)


def run_agent(config_path: Path, *, once: bool = False) -> int:
    """Load the configuration and run until SIGTERM/SIGINT (or one pass with `once`).

    Returns 0, or 1 when `once` could not render every template. Raises ConfigError for an
    unusable configuration and TesseraError when `once` cannot authenticate.
    """
    agent = make_agent(load_config(config_path))
    try:
        if once:
            agent.tick()
            return 0 if agent.healthy() else 1
        stop = threading.Event()
        install_stop_handlers(stop)
        agent.run(stop)
        return 0
    finally:
        agent.client.close()


__all__ = ["Agent", "AgentConfig", "ConfigError", "load_config", "make_agent", "run_agent"]
