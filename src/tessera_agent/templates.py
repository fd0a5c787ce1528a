"""Sandboxed Jinja2 templates over secrets, and the ETag-aware cache they read from.

Inside a template:

    {% for s in secrets() %}{{ s.key }}={{ s.value }}
    {% endfor %}
    DATABASE_URL={{ secret("DB_URL", environment="prod", path="/db") }}

`secrets(project=None, environment=None, path=None)` lists a folder (the defaults come from the
agent configuration) and `secret(key, ...)` returns one value. Templates run in Jinja2's
`SandboxedEnvironment` with no loader (no includes, no file access) and `StrictUndefined`, so a
typo fails the render instead of writing an empty value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from tessera_sdk.errors import TesseraError
from tessera_sdk.models import SecretList


@dataclass(frozen=True)
class Query:
    project: str
    environment: str
    path: str


@dataclass(frozen=True)
class TemplateSecret:
    """What a template sees of a secret: plain attributes only."""

    key: str
    value: str
    comment: str
    path: str
    environment: str


class RenderError(Exception):
    """A template could not be rendered (syntax, missing secret, sandbox violation)."""


ListFn = Callable[[Query, str | None], SecretList]


class SecretCache:
    """Folder listings, refreshed with If-None-Match so an unchanged folder costs a 304."""

    def __init__(self, list_secrets: ListFn) -> None:
        self._list = list_secrets
        self._entries: dict[Query, tuple[str | None, list[TemplateSecret]]] = {}
        self._lock = threading.Lock()

    def get(self, query: Query) -> list[TemplateSecret]:
        with self._lock:
            entry = self._entries.get(query)
        if entry is None:
            result = self._list(query, None)
            entry = (result.etag, _template_secrets(result, query))
            with self._lock:
                self._entries[query] = entry
        return entry[1]

    def poll(self) -> set[Query]:
        """Re-check every folder read so far; the set of folders whose secrets changed."""
        changed: set[Query] = set()
        with self._lock:
            known = dict(self._entries)
        for query, (etag, secrets) in known.items():
            result = self._list(query, etag)
            if result.not_modified:
                continue
            fresh = _template_secrets(result, query)
            with self._lock:
                self._entries[query] = (result.etag, fresh)
            # Servers without ETag support answer 200 every time: compare the content too.
            if fresh != secrets:
                changed.add(query)
        return changed


def _template_secrets(result: SecretList, query: Query) -> list[TemplateSecret]:
    merged = result.as_dict()
    comments = {s.key: s.comment for s in result.secrets}
    paths = {s.key: s.path for s in result.secrets}
    return [
        TemplateSecret(key, value, comments.get(key, ""), paths.get(key, query.path), query.environment)
        for key, value in sorted(merged.items())
    ]


@dataclass(frozen=True)
class Defaults:
    project: str | None = None
    environment: str | None = None
    path: str = "/"


class Renderer:
    """Renders template text; records which folders each render read."""

    def __init__(self, cache: SecretCache, defaults: Defaults) -> None:
        self._cache = cache
        self._defaults = defaults
        self._env = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, loader=None
        )

    def render(self, text: str) -> tuple[str, set[Query]]:
        used: set[Query] = set()

        def query(project: str | None, environment: str | None, path: str | None) -> Query:
            project = project or self._defaults.project
            environment = environment or self._defaults.environment
            if not project or not environment:
                raise RenderError("secrets(): no project/environment given and no default configured")
            q = Query(project, environment, path or self._defaults.path)
            used.add(q)
            return q

        def secrets(
            project: str | None = None, environment: str | None = None, path: str | None = None
        ) -> list[TemplateSecret]:
            return self._cache.get(query(project, environment, path))

        def secret(
            key: str, project: str | None = None, environment: str | None = None, path: str | None = None
        ) -> str:
            q = query(project, environment, path)
            for item in self._cache.get(q):
                if item.key == key:
                    return item.value
            raise RenderError(f"secret {key!r} not found in {q.environment}:{q.path}")

        try:
            template = self._env.from_string(text)
            output = template.render(secrets=secrets, secret=secret)
        except (RenderError, TesseraError):
            raise
        except TemplateError as exc:
            raise RenderError(f"template error: {exc.message or type(exc).__name__}") from None
        except Exception as exc:
            # Only the type: a message such as int()'s would quote the (secret) value.
            raise RenderError(f"template error: {type(exc).__name__}") from None
        return output, used
