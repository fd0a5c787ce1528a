"""Rendering secrets for the client commands: table, json, dotenv, yaml."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from tessera_sdk import Secret

HIDDEN = "<hidden>"
_BARE_DOTENV = re.compile(r"^[A-Za-z0-9_./:@+,-]*$")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    dotenv = "dotenv"
    yaml = "yaml"


class ExportFormat(StrEnum):
    dotenv = "dotenv"
    json = "json"
    yaml = "yaml"


def dotenv_value(value: str) -> str:
    """Bare when safe, else double-quoted with \\ " $ ` and control characters escaped."""
    if value and _BARE_DOTENV.match(value):
        return value
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("$", "\\$")
        .replace("`", "\\`")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def render_dotenv(values: dict[str, str | None]) -> str:
    lines = []
    for key, value in values.items():
        lines.append(f"# {key}: value hidden" if value is None else f"{key}={dotenv_value(value)}")
    return "\n".join(lines) + ("\n" if lines else "")


class _Dumper(yaml.SafeDumper):
    """Multi-line values as `|` blocks, which read (and diff) like the value itself."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and value == value.strip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def render_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def secret_record(secret: Secret) -> dict[str, Any]:
    return {
        "key": secret.key,
        "value": secret.value,
        "comment": secret.comment,
        "path": secret.path,
        "environment": secret.environment,
        "version": secret.version,
        "type": secret.type,
    }


def secrets_table(secrets: list[Secret]) -> Table:
    table = Table()
    table.add_column("Key", style="bold", no_wrap=True)
    table.add_column("Value", overflow="fold")
    table.add_column("Comment", overflow="fold")
    table.add_column("Version", justify="right")
    for secret in secrets:
        table.add_row(
            secret.key, HIDDEN if secret.value is None else secret.value, secret.comment, str(secret.version)
        )
    return table


def print_secrets(
    console: Console, secrets: list[Secret], fmt: OutputFormat, title: str | None = None
) -> None:
    """`secrets list|get|set` output; table to the console, the rest as plain text."""
    if fmt is OutputFormat.table:
        if title:
            console.print(title, markup=False)
        console.print(secrets_table(secrets))
        return
    if fmt is OutputFormat.json:
        text = render_json([secret_record(s) for s in secrets])
    elif fmt is OutputFormat.yaml:
        text = render_yaml({s.key: s.value for s in secrets})
    else:
        text = render_dotenv({s.key: s.value for s in secrets})
    console.file.write(text)


def export_text(values: dict[str, str], fmt: ExportFormat) -> str:
    if fmt is ExportFormat.json:
        return render_json(values)
    if fmt is ExportFormat.yaml:
        return render_yaml(values)
    return render_dotenv(dict(values))
