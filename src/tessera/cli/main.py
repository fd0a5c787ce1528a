"""The `tessera` command. This package is the one place allowed to print."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from tessera import __version__
from tessera.cli import agent as agent_cli
from tessera.cli import backup as backup_cli
from tessera.cli import client as client_cli
from tessera.settings import Settings, SettingsError, generate_auth_secret, generate_root_key

app = typer.Typer(help="Tessera: secrets manager and KMS for machine identities.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
keys_app = typer.Typer(help="Key management.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for problem in exc.errors():
            err.print(f"[red]configuration error:[/red] {problem['msg']}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


@app.command()
def server(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default TESSERA_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TESSERA_PORT or 8080).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP server (the embedded SQLite default creates and migrates its database)."""
    import uvicorn

    from tessera.cli.server import NotMigrated, prepare

    settings = load_settings()
    try:
        settings = prepare(settings)
    except (SettingsError, NotMigrated) as exc:
        raise fail(str(exc)) from None
    # Workers re-read settings from the environment; pin what the command line chose.
    os.environ["TESSERA_DATA_DIR"] = str(settings.data_dir)
    # Worker processes start with this environment: cap glibc's per-thread malloc arenas, which
    # otherwise grow each worker's memory with its request threads (measured: about 10 MB less
    # resident memory per worker under load). An operator's own value wins.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    err.print(f"Tessera {__version__} listening on http://{host or settings.host}:{port or settings.port}")
    uvicorn.run(
        "tessera.cli.server:app_factory",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=False,  # client IPs are resolved by Tessera itself, from TESSERA_TRUSTED_PROXIES
        server_header=False,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION."""
    from tessera.store import migrate
    from tessera.store.engine import make_engine

    settings = load_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine, revision)
    print(f"database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision (e.g. base).")]) -> None:
    """Revert migrations down to REVISION."""
    from tessera.store import migrate
    from tessera.store.engine import make_engine

    engine = make_engine(load_settings().resolved_database_url)
    migrate.downgrade(engine, revision)
    print(f"database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the newest one this version knows."""
    from tessera.store import migrate
    from tessera.store.engine import make_engine

    engine = make_engine(load_settings().resolved_database_url)
    print(json.dumps({"current": migrate.current_revision(engine), "head": migrate.head_revision()}))
    engine.dispose()


@keys_app.command("generate")
def keys_generate() -> None:
    """Print fresh values for TESSERA_ROOT_KEY and TESSERA_AUTH_SECRET."""
    print(f"TESSERA_ROOT_KEY={generate_root_key()}")
    print(f"TESSERA_AUTH_SECRET={generate_auth_secret()}")


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Data keys re-sealed per transaction.")
    ] = 200,
) -> None:
    """Re-seal every project's data key under TESSERA_ROOT_KEY (old key in TESSERA_PREVIOUS_ROOT_KEYS)."""
    from tessera.cli.keys import rotate
    from tessera.errors import TesseraError

    try:
        report = rotate(load_settings(), batch_size=batch_size)
    except (SettingsError, TesseraError) as exc:
        raise fail(str(exc)) from None
    print(
        f"re-sealed {report.resealed} data key(s) under root key {report.root_key_id}; "
        f"{report.already_current} already current. Once every server runs with the new "
        "TESSERA_ROOT_KEY, remove the old key from TESSERA_PREVIOUS_ROOT_KEYS."
    )


@app.command()
def bootstrap(
    email: Annotated[str, typer.Option(help="Email of the first administrator.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, envvar="TESSERA_BOOTSTRAP_PASSWORD", help="Their password."
        ),
    ],
    organization: Annotated[str, typer.Option(help="Name of the first organisation.")],
) -> None:
    """Set up an empty instance and print the admin identity's token as JSON."""
    from tessera.audit.service import RequestContext
    from tessera.cli.server import NotMigrated, prepare
    from tessera.clock import SystemClock
    from tessera.errors import TesseraError
    from tessera.orgs.routes import bootstrap_response
    from tessera.orgs.schemas import BootstrapIn
    from tessera.orgs.service import bootstrap as run_bootstrap
    from tessera.store.engine import make_engine, make_session_factory

    try:
        # Check the input first, so a typo creates or migrates nothing.
        body = BootstrapIn(email=email, password=password, organization=organization)
        settings = prepare(load_settings())
    except (SettingsError, NotMigrated) as exc:
        raise fail(str(exc)) from None
    except ValidationError as exc:
        raise fail(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2
        ) from None
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine).begin() as session:
            result = run_bootstrap(
                session,
                email=str(body.email),
                password=body.password,
                organization_name=body.organization,
                now=SystemClock().now(),
                signing_secret=settings.auth_secret_bytes(),
                ctx=RequestContext(user_agent="tessera-cli"),
            )
            print(json.dumps(bootstrap_response(result), indent=2))
    except TesseraError as exc:
        raise fail(exc.message) from None
    finally:
        engine.dispose()


client_cli.register(app)  # login, logout, secrets, run, export
agent_cli.register(app)  # agent
backup_cli.register(app)  # backup, restore


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
