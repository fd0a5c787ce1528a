"""Client-side commands: login, logout, secrets list|get|set|delete, run, export.

They talk to a Tessera server through `tessera_sdk`. Errors are printed as one readable line and
mapped to the exit codes documented in docs/cli.md (`ExitCode`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum, StrEnum
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

from tessera.cli.client_credentials import CredentialStore, CredentialStoreError
from tessera.cli.client_output import ExportFormat, OutputFormat, export_text, print_secrets
from tessera_sdk import (
    AuthenticationError,
    AzureAuth,
    Client,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RefreshTokenAuth,
    ServerError,
    TesseraError,
    TokenAuth,
    TokenState,
    UniversalAuth,
)
from tessera_sdk.auth import AuthStrategy

secrets_app = typer.Typer(help="Read and change secrets.", no_args_is_help=True)
err = Console(stderr=True, highlight=False)

# Extra keyword arguments for every `Client` the commands build (tests inject `sleep` here).
CLIENT_OPTIONS: dict[str, Any] = {}

# Variables that carry Tessera credentials are not passed on to `tessera run` children.
CREDENTIAL_VARIABLES = ("TESSERA_TOKEN", "TESSERA_CLIENT_SECRET", "TESSERA_REFRESH_TOKEN")


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    AUTH = 3
    PERMISSION = 4
    NOT_FOUND = 5
    UNAVAILABLE = 6
    NOT_EXECUTABLE = 126
    COMMAND_NOT_FOUND = 127


class LoginMethod(StrEnum):
    universal_auth = "universal-auth"
    azure = "azure"
    token = "token"  # noqa: S105 (a method name)
    refresh_token = "refresh-token"  # noqa: S105 (a method name)


class CliError(Exception):
    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


SiteUrlOption = Annotated[
    str | None,
    typer.Option(
        "--site-url", envvar="TESSERA_SITE_URL", help="Server URL (default: the one used at login)."
    ),
]
ProjectOption = Annotated[str, typer.Option("--project", envvar="TESSERA_PROJECT_ID", help="Project id.")]
EnvOption = Annotated[str, typer.Option("--env", envvar="TESSERA_ENV", help="Environment slug.")]
PathOption = Annotated[str, typer.Option("--path", help="Secret path (folder).")]
OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o", help="Output format.")]


def exit_code_for(exc: TesseraError) -> ExitCode:
    if isinstance(exc, AuthenticationError):
        return ExitCode.AUTH
    if isinstance(exc, PermissionDeniedError):
        return ExitCode.PERMISSION
    if isinstance(exc, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, NetworkError | ServerError | RateLimitError):
        return ExitCode.UNAVAILABLE
    return ExitCode.ERROR


@contextmanager
def readable_errors() -> Iterator[None]:
    """Turn every expected failure into one line on stderr and its exit code (no traceback)."""
    try:
        yield
    except CliError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(exc.code) from None
    except CredentialStoreError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(ExitCode.AUTH) from None
    except TesseraError as exc:
        hint = f" (request id {exc.request_id})" if exc.request_id else ""
        err.print(f"[red]error:[/red] {exc.message}{hint}")
        if isinstance(exc, AuthenticationError):
            err.print("hint: log in again with `tessera login`")
        raise typer.Exit(exit_code_for(exc)) from None
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(ExitCode.USAGE) from None


# --- building a client from flags, environment or the stored login ------------------------------


def _strategy_from_profile(profile: dict[str, Any], store: CredentialStore | None = None) -> AuthStrategy:
    """The auth strategy a stored (or about to be stored) login describes.

    A rotated refresh token replaces the old one in `profile` (and in `store` when given) at once:
    the server has retired the old one.
    """
    method = profile.get("method")
    if method == LoginMethod.refresh_token:

        def rotated(successor: str) -> None:
            profile["refresh_token"] = successor
            if store is not None:
                store.save(profile)

        return RefreshTokenAuth(str(profile["refresh_token"]), on_rotate=rotated)
    if method == LoginMethod.universal_auth:
        return UniversalAuth(str(profile["client_id"]), str(profile["client_secret"]))
    if method == LoginMethod.azure:
        overrides = {"client_id": profile["azure_client_id"]} if profile.get("azure_client_id") else {}
        return AzureAuth(
            str(profile["identity_id"]),
            resource=str(profile["resource"]),
            source=str(profile.get("source", "auto")),
            **overrides,
        )
    if method == LoginMethod.token:
        return TokenAuth(str(profile["token"]))
    raise CliError("the stored login is not recognised; run `tessera login` again", ExitCode.AUTH)


def open_client(site_url: str | None) -> Client:
    """Credentials from TESSERA_TOKEN, TESSERA_CLIENT_ID/SECRET, or the stored login (in that order)."""
    env_token = os.environ.get("TESSERA_TOKEN")
    env_id, env_secret = os.environ.get("TESSERA_CLIENT_ID"), os.environ.get("TESSERA_CLIENT_SECRET")
    if env_token or (env_id and env_secret):
        if not site_url:
            raise CliError("no server URL: pass --site-url or set TESSERA_SITE_URL", ExitCode.USAGE)
        strategy: AuthStrategy = (
            TokenAuth(env_token) if env_token else UniversalAuth(env_id or "", env_secret or "")
        )
        return Client(site_url, auth=strategy, **CLIENT_OPTIONS)
    store = CredentialStore()
    profile = store.load()
    if profile is None:
        raise CliError("not logged in: run `tessera login` (or set TESSERA_TOKEN)", ExitCode.AUTH)
    stored_url = str(profile.get("site_url") or "")
    url = site_url or stored_url
    if not url:
        raise CliError("no server URL: pass --site-url or set TESSERA_SITE_URL", ExitCode.USAGE)
    # A cached token is only good for the server it came from.
    cached = (
        profile.get("token_state") if not site_url or site_url.rstrip("/") == stored_url.rstrip("/") else None
    )
    state = TokenState.from_dict(cached) if isinstance(cached, dict) else None

    def remember(new_state: TokenState) -> None:
        profile["token_state"] = new_state.to_dict()
        store.save(profile)

    return Client(
        url,
        auth=_strategy_from_profile(profile, store),
        token_state=state,
        on_token_change=remember,
        **CLIENT_OPTIONS,
    )


# --- login / logout -----------------------------------------------------------------------------


def login(
    site_url: SiteUrlOption = None,
    method: Annotated[LoginMethod, typer.Option("--method", "-m", help="How to authenticate.")] = (
        LoginMethod.universal_auth
    ),
    client_id: Annotated[
        str | None, typer.Option(envvar="TESSERA_CLIENT_ID", help="Universal Auth client id.")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(envvar="TESSERA_CLIENT_SECRET", help="Universal Auth client secret (prompted)."),
    ] = None,
    identity_id: Annotated[str | None, typer.Option(help="Identity id (Azure).")] = None,
    resource: Annotated[str, typer.Option(help="Azure resource/audience.")] = "https://management.azure.com/",
    azure_source: Annotated[
        str, typer.Option(help="Azure token source: auto, imds, app_service, workload_identity, arc.")
    ] = "auto",
    azure_client_id: Annotated[
        str | None, typer.Option(help="User-assigned managed identity client id.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="TESSERA_TOKEN", help="Access token (prompted).")
    ] = None,
    refresh_token: Annotated[
        str | None, typer.Option(envvar="TESSERA_REFRESH_TOKEN", help="Refresh token (prompted).")
    ] = None,
) -> None:
    """Log in and store the credentials (OS keyring, or a 0600 file in the config directory)."""
    with readable_errors():
        if not site_url:
            raise CliError("no server URL: pass --site-url or set TESSERA_SITE_URL", ExitCode.USAGE)
        profile: dict[str, Any] = {"site_url": site_url, "method": method.value}
        if method is LoginMethod.universal_auth:
            if not client_id:
                raise CliError("--client-id is required for universal-auth", ExitCode.USAGE)
            secret = client_secret or typer.prompt("Client secret", hide_input=True)
            profile.update(client_id=client_id, client_secret=secret)
        elif method is LoginMethod.azure:
            if not identity_id:
                raise CliError("--identity-id is required for azure", ExitCode.USAGE)
            profile.update(
                identity_id=identity_id,
                resource=resource,
                source=azure_source,
                azure_client_id=azure_client_id,
            )
        elif method is LoginMethod.refresh_token:
            profile.update(refresh_token=refresh_token or typer.prompt("Refresh token", hide_input=True))
        else:
            profile.update(token=token or typer.prompt("Access token", hide_input=True))
        with Client(site_url, auth=_strategy_from_profile(profile), **CLIENT_OPTIONS) as client:
            state = client.login()
        store = CredentialStore()
        store.save({**profile, "token_state": state.to_dict()})  # with a rotated refresh token, if any
        err.print(f"Logged in to {client.site_url} ({method.value}); credentials stored in {store.location}")


def logout() -> None:
    """Revoke the stored token (best effort) and forget the stored credentials."""
    with readable_errors():
        store = CredentialStore()
        profile = store.load()
        state = profile.get("token_state") if profile else None
        if profile and isinstance(state, dict) and profile.get("method") != LoginMethod.token:
            try:
                with Client(str(profile["site_url"]), auth=TokenAuth(str(state["access_token"]))) as client:
                    client.tokens.token()
                    client.revoke()
            except TesseraError:
                pass  # an expired token needs no revoking
        removed = store.delete()
        err.print("Logged out." if removed else "Not logged in.")


# --- secrets ------------------------------------------------------------------------------------


@secrets_app.command("list")
def secrets_list(
    project: ProjectOption,
    env: EnvOption = "dev",
    path: PathOption = "/",
    output: OutputOption = OutputFormat.table,
    site_url: SiteUrlOption = None,
) -> None:
    """List the secrets of a folder."""
    with readable_errors(), open_client(site_url) as client:
        result = client.secrets.list(project, env, path)
    print_secrets(_stdout(), result.secrets, output, title=f"{env}:{path}")


@secrets_app.command("get")
def secrets_get(
    names: Annotated[list[str], typer.Argument(help="Secret names.")],
    project: ProjectOption,
    env: EnvOption = "dev",
    path: PathOption = "/",
    output: OutputOption = OutputFormat.table,
    plain: Annotated[bool, typer.Option("--plain", help="Print only the values, one per line.")] = False,
    site_url: SiteUrlOption = None,
) -> None:
    """Show one or more secrets."""
    with readable_errors(), open_client(site_url) as client:
        found = [client.secrets.get(name, project, env, path) for name in names]
    if plain:
        _stdout().file.write("".join(f"{s.value if s.value is not None else ''}\n" for s in found))
        return
    print_secrets(_stdout(), found, output)


@secrets_app.command("set")
def secrets_set(
    assignments: Annotated[list[str], typer.Argument(help="KEY=VALUE pairs.")],
    project: ProjectOption,
    env: EnvOption = "dev",
    path: PathOption = "/",
    output: OutputOption = OutputFormat.table,
    site_url: SiteUrlOption = None,
) -> None:
    """Create or update secrets (KEY=VALUE ...)."""
    with readable_errors():
        pairs = [_split_assignment(item) for item in assignments]
        with open_client(site_url) as client:
            changed = []
            for key, value in pairs:
                try:
                    changed.append(client.secrets.update(key, project, env, path, value=value))
                except NotFoundError:
                    changed.append(client.secrets.create(key, value, project, env, path))
    print_secrets(_stdout(), changed, output)


@secrets_app.command("delete")
def secrets_delete(
    names: Annotated[list[str], typer.Argument(help="Secret names.")],
    project: ProjectOption,
    env: EnvOption = "dev",
    path: PathOption = "/",
    site_url: SiteUrlOption = None,
) -> None:
    """Delete secrets."""
    with readable_errors(), open_client(site_url) as client:
        for name in names:
            client.secrets.delete(name, project, env, path)
            err.print(f"deleted {name}")


def _split_assignment(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        # The argument itself is not echoed: it may be a secret typed in the wrong place.
        raise CliError("expected KEY=VALUE arguments", ExitCode.USAGE)
    return key.strip(), value


# --- export / run -------------------------------------------------------------------------------


def _fetch_values(site_url: str | None, project: str, env: str, path: str) -> dict[str, str]:
    with open_client(site_url) as client:
        return client.secrets.list(project, env, path, include_imports=True).as_dict()


def export(
    project: ProjectOption,
    env: EnvOption = "dev",
    path: PathOption = "/",
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = ExportFormat.dotenv,
    site_url: SiteUrlOption = None,
) -> None:
    """Print the secrets of a folder as dotenv, JSON or YAML."""
    with readable_errors():
        values = _fetch_values(site_url, project, env, path)
    _stdout().file.write(export_text(values, fmt))


def run(
    command: Annotated[list[str], typer.Argument(help="The command and its arguments (after --).")],
    project: ProjectOption,
    env: EnvOption = "dev",
    path: PathOption = "/",
    site_url: SiteUrlOption = None,
) -> None:
    """Run a command with the secrets as environment variables; exits with the command's code."""
    with readable_errors():
        values = _fetch_values(site_url, project, env, path)
    child_env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    unusable = sorted(k for k, v in values.items() if "=" in k or "\0" in k or "\0" in v or not k)
    if unusable:
        err.print(
            f"[yellow]warning:[/yellow] not passed on (not valid in an environment): {', '.join(unusable)}"
        )
    child_env.update({k: v for k, v in values.items() if k not in unusable})
    raise typer.Exit(run_child(command, child_env))


def run_child(command: list[str], env: dict[str, str]) -> int:
    """Start the child, pass SIGTERM on to it, and return its exit code (128+n if killed by signal n)."""
    try:
        child = subprocess.Popen(command, env=env)  # noqa: S603 - running the user's command is the point
    except FileNotFoundError:
        err.print(f"[red]error:[/red] command not found: {command[0]}")
        return ExitCode.COMMAND_NOT_FOUND
    except PermissionError:
        err.print(f"[red]error:[/red] command not executable: {command[0]}")
        return ExitCode.NOT_EXECUTABLE

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    def wait_for_child(signum: int, frame: FrameType | None) -> None:
        return None  # Ctrl-C reaches the child directly (same process group); keep waiting for it

    handlers = {signal.SIGTERM: forward, signal.SIGHUP: forward, signal.SIGINT: wait_for_child}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def _stdout() -> Console:
    # Built per call: test runners swap sys.stdout. A fixed width keeps pipes and files stable.
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "100"))
    return Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)


def register(app: typer.Typer) -> None:
    """Add the client commands to the `tessera` command."""
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("export")(export)
    app.command("run", context_settings={"allow_interspersed_args": False})(run)
    app.add_typer(secrets_app, name="secrets")


__all__ = ["ExitCode", "register"]
