"""`tessera agent --config agent.yaml`: run the agent (see docs/agent.md)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False)


def agent(
    config: Annotated[Path, typer.Option("--config", "-c", help="The agent's YAML configuration.")],
    once: Annotated[bool, typer.Option("--once", help="Authenticate and render once, then exit.")] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Keep a token and rendered secret files up to date; stops cleanly on SIGTERM/SIGINT."""
    from tessera.cli.client import ExitCode, exit_code_for
    from tessera_agent import ConfigError, run_agent
    from tessera_sdk import TesseraError

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = run_agent(config, once=once)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    except TesseraError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(exit_code_for(exc)) from None
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    except OSError as exc:
        err.print(f"[red]error:[/red] {exc.strerror}: {exc.filename}")
        raise typer.Exit(ExitCode.ERROR) from None
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("agent")(agent)
