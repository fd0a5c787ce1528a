"""Pure expansion of secret references: `${KEY}` and `${env.a.b.KEY}`.

The caller injects `lookup(ref, referenced_by)`, which returns the referenced secret's raw value
(or None when it does not exist) and raises when the caller may not read it; this module never
touches the database or permissions. Expansion is recursive, each referenced value expanded in
its own environment and folder, with a depth limit and a per-branch visited set, so cycles
terminate. A missing or empty reference, a cyclic one and one past the depth limit leave the
placeholder as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_DEPTH = 10
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")


@dataclass(frozen=True, slots=True)
class Ref:
    environment: str
    path: str
    key: str


Lookup = Callable[[Ref, Ref], "str | None"]


def parse_reference(inner: str, *, environment: str, path: str) -> Ref | None:
    """`KEY` → same env and folder; `env.KEY` → env root; `env.a.b.KEY` → env `/a/b`."""
    parts = inner.strip().split(".")
    if any(part == "" for part in parts):
        return None
    if len(parts) == 1:
        return Ref(environment, path, parts[0])
    return Ref(parts[0], "/" + "/".join(parts[1:-1]), parts[-1])


def references_in(value: str, *, environment: str, path: str) -> list[Ref]:
    refs = [
        parse_reference(m.group(1), environment=environment, path=path) for m in PLACEHOLDER.finditer(value)
    ]
    return [ref for ref in refs if ref is not None]


def expand(value: str, origin: Ref, lookup: Lookup, *, max_depth: int = MAX_DEPTH) -> str:
    """Expand the references in `value`, which belongs to the secret `origin`."""
    return _expand(value, origin, lookup, frozenset({origin}), 0, max_depth)


def _expand(
    value: str, origin: Ref, lookup: Lookup, visited: frozenset[Ref], depth: int, max_depth: int
) -> str:
    if depth >= max_depth or "${" not in value:
        return value
    resolved: dict[str, str] = {}

    def substitute(match: re.Match[str]) -> str:
        placeholder = match.group(0)
        if placeholder not in resolved:
            resolved[placeholder] = _resolve(placeholder, origin, lookup, visited, depth, max_depth)
        return resolved[placeholder]

    # One pass over the original text with a function replacement: the result is inserted
    # literally and text that came from a referenced value is never scanned again here.
    return PLACEHOLDER.sub(substitute, value)


def _resolve(
    placeholder: str, origin: Ref, lookup: Lookup, visited: frozenset[Ref], depth: int, max_depth: int
) -> str:
    ref = parse_reference(placeholder[2:-1], environment=origin.environment, path=origin.path)
    if ref is None or ref in visited:
        return placeholder
    raw = lookup(ref, origin)
    if not raw:
        return placeholder
    return _expand(raw, ref, lookup, visited | {ref}, depth + 1, max_depth)


def apply_multiline_quirk(value: str, skip_multiline_encoding: bool | None) -> str:
    """Infisical's post-expansion rule: with skipMultilineEncoding, a multi-line value is quoted
    and its newlines written as the two characters backslash-n."""
    if skip_multiline_encoding and "\n" in value:
        return '"' + value.replace("\n", "\\n") + '"'
    return value
