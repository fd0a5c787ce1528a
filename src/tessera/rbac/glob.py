"""Pure glob matching for permission conditions, and secret-path normalisation.

Semantics follow picomatch as Infisical uses it for `$glob` conditions:

* a pattern is split into `/`-separated segments;
* `**` as a whole segment matches zero or more segments, so `/app/**` matches `/app` itself and
  everything below it, and `/**` matches every path including `/`;
* `*` matches any run of characters inside one segment and never crosses `/`; `?` matches one
  character; `[abc]`, `[a-z]`, `[!a]` / `[^a]` are character classes; `{a,b}` are alternatives.

Deliberately unsupported (rejected as invalid rather than given a meaning that could differ from
picomatch's): negation (`!` prefix), extglobs (`@(..)`, `+(..)`…), backslash escapes, POSIX
classes and `{{template}}` placeholders.

A secret path is checked before it is matched: `.` and `..` segments, backslashes, percent
escapes, glob characters, control and non-ASCII characters are refused, so a path cannot be
spelled two ways or climb out of the folder a rule names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_PATH_LENGTH = 1024
MAX_PATTERN_LENGTH = 512
MAX_ALTERNATIVES = 64  # brace expansion is exponential; a bound keeps a rule from being a DoS

# Characters never allowed in a secret path segment. Folder names are alphanumerics, `-` and
# `_`; refusing the rest (rather than escaping it) means there is exactly one spelling per path.
_PATH_FORBIDDEN = frozenset("\\%*?[]{}!()\"'`<>|^#;&$")
_GLOB_FORBIDDEN = frozenset("\\()")
_META = frozenset("*?[")


class InvalidPath(ValueError):
    """A secret path that could be ambiguous or escape its folder."""


class InvalidPattern(ValueError):
    """A glob this matcher refuses to interpret."""


def _check_segment_chars(segment: str, forbidden: frozenset[str]) -> str | None:
    for char in segment:
        code = ord(char)
        if code <= 0x20 or code >= 0x7F:
            return "control, space or non-ASCII character"
        if char in forbidden:
            return f"character {char!r} is not allowed"
    return None


def normalize_secret_path(path: str) -> str:
    """`a//b/` → `/a/b`, `` → `/`. The one spelling every permission check and lookup should use.

    Raises:
        InvalidPath: `.` or `..` segments, or characters that could smuggle another spelling.
    """
    if not isinstance(path, str) or len(path) > MAX_PATH_LENGTH:
        raise InvalidPath("secret path is too long or not text")
    segments = [segment for segment in path.split("/") if segment]
    for segment in segments:
        if segment in {".", ".."}:
            raise InvalidPath("secret path may not contain '.' or '..' segments")
        problem = _check_segment_chars(segment, _PATH_FORBIDDEN)
        if problem is not None:
            raise InvalidPath(f"secret path is not valid: {problem}")
    return "/" + "/".join(segments)


def path_segments(path: str) -> tuple[str, ...]:
    """Segments of a normalised absolute path; the root has none."""
    return tuple(segment for segment in path.split("/") if segment)


# --- compiling ---------------------------------------------------------------------------------


class _Globstar:
    """Marker for a `**` segment."""

    def __repr__(self) -> str:
        return "**"


GLOBSTAR = _Globstar()
Segment = re.Pattern[str] | _Globstar


@dataclass(frozen=True, slots=True)
class Alternative:
    """One brace-expanded form of a pattern: raw segment texts and their compiled matchers."""

    raw: tuple[str, ...]
    matchers: tuple[Segment, ...]

    @property
    def literal_prefix(self) -> tuple[str, ...]:
        """The leading segments that contain no wildcard: every match starts with them."""
        prefix: list[str] = []
        for text in self.raw:
            if text == "**" or _META.intersection(text):
                break
            prefix.append(text)
        return tuple(prefix)

    @property
    def is_literal(self) -> bool:
        return len(self.literal_prefix) == len(self.raw)

    @property
    def is_prefix_globstar(self) -> bool:
        """Literal segments followed by one trailing `**` (`/config/**`): "this folder and below"."""
        return bool(self.raw) and self.raw[-1] == "**" and len(self.literal_prefix) == len(self.raw) - 1


@dataclass(frozen=True, slots=True)
class Glob:
    source: str
    absolute: bool
    alternatives: tuple[Alternative, ...]

    def match(self, value: str) -> bool:
        segments = _value_segments(value, self.absolute)
        if segments is None:
            return False
        return any(_match_segments(alt.matchers, segments) for alt in self.alternatives)


def _value_segments(value: str, absolute: bool) -> tuple[str, ...] | None:
    if absolute:
        if not value.startswith("/"):
            return None
        return path_segments(value)
    if value.startswith("/"):
        return None
    return tuple(value.split("/"))


def _match_segments(matchers: Sequence[Segment], segments: Sequence[str]) -> bool:
    """Which prefixes of `segments` the pattern prefix can reach; `**` reaches every later one."""
    reachable = {0}
    total = len(segments)
    for matcher in matchers:
        if isinstance(matcher, _Globstar):
            reachable = set(range(min(reachable), total + 1))
        else:
            reachable = {j + 1 for j in reachable if j < total and matcher.fullmatch(segments[j])}
        if not reachable:
            return False
    return total in reachable


def compile_glob(pattern: str, *, path: bool) -> Glob:
    """Compile a `$glob` value. `path=True` for secretPath: it must be absolute and is normalised.

    Raises:
        InvalidPattern: syntax this matcher does not support, or an unsafe path pattern.
    """
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidPattern("glob must be a non-empty string of at most 512 characters")
    if pattern.startswith("!") or "{{" in pattern:
        raise InvalidPattern("negated globs and templates are not supported")
    if path and not pattern.startswith("/"):
        raise InvalidPattern("Invalid Secret Path; it must start with a '/'")
    alternatives = []
    for expanded in _expand_braces(pattern):
        alternatives.append(_compile_alternative(expanded, path=path))
    absolute = pattern.startswith("/")
    return Glob(source=pattern, absolute=absolute, alternatives=tuple(dict.fromkeys(alternatives)))


def _compile_alternative(text: str, *, path: bool) -> Alternative:
    absolute = text.startswith("/")
    raw = tuple(segment for segment in text.split("/") if segment) if absolute else tuple(text.split("/"))
    if path and not absolute:
        raise InvalidPattern("Invalid Secret Path; it must start with a '/'")
    matchers: list[Segment] = []
    for segment in raw:
        if segment in {".", ".."}:
            raise InvalidPattern("glob may not contain '.' or '..' segments")
        problem = _check_segment_chars(segment, _GLOB_FORBIDDEN)
        if problem is not None:
            raise InvalidPattern(f"glob is not valid: {problem}")
        if not segment and not absolute:
            raise InvalidPattern("glob may not contain empty segments")
        matchers.append(GLOBSTAR if segment == "**" else _compile_segment(segment))
    return Alternative(raw=raw, matchers=tuple(matchers))


def _compile_segment(segment: str) -> re.Pattern[str]:
    try:
        return re.compile(_segment_regex(segment))
    except re.error as exc:  # e.g. a reversed range such as [z-a]
        raise InvalidPattern(f"glob is not valid: {exc.msg}") from exc


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1  # `**` inside a segment is just `*`
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            cls, i = _char_class(segment, i)
            out.append(cls)
        elif char in "]{}":
            raise InvalidPattern(f"unbalanced {char!r} in glob")
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _char_class(segment: str, start: int) -> tuple[str, int]:
    """`[...]` starting at `start` → (regex class, index of the closing bracket)."""
    i = start + 1
    negate = i < len(segment) and segment[i] in "!^"
    if negate:
        i += 1
    body: list[str] = []
    while i < len(segment) and (segment[i] != "]" or not body):
        char = segment[i]
        if segment[i : i + 2] == "[:":
            raise InvalidPattern("POSIX character classes are not supported")
        # A hyphen between two characters is a range; anywhere else it is literal.
        is_range = char == "-" and body and i + 1 < len(segment) and segment[i + 1] != "]"
        body.append("-" if is_range else re.escape(char))
        i += 1
    if i >= len(segment) or not body:
        raise InvalidPattern("unclosed '[' in glob")
    return ("[^/" if negate else "[") + "".join(body) + "]", i


def _expand_braces(pattern: str) -> list[str]:
    """`/a/{b,c}/**` → [`/a/b/**`, `/a/c/**`], nested braces included, bounded in count."""
    results: list[str] = []
    pending = [pattern]
    while pending:
        current = pending.pop()
        span = _first_brace_group(current)
        if span is None:
            results.append(current)
        else:
            open_at, close_at, options = span
            for option in reversed(options):
                pending.append(current[:open_at] + option + current[close_at + 1 :])
        if len(results) + len(pending) > MAX_ALTERNATIVES:
            raise InvalidPattern(f"glob expands to more than {MAX_ALTERNATIVES} alternatives")
    return results


def _first_brace_group(text: str) -> tuple[int, int, list[str]] | None:
    open_at = text.find("{")
    if open_at < 0:
        if "}" in text:
            raise InvalidPattern("unbalanced '}' in glob")
        return None
    if "}" in text[:open_at]:
        raise InvalidPattern("unbalanced '}' in glob")
    depth = 0
    options: list[str] = []
    piece_start = open_at + 1
    for index in range(open_at, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                options.append(text[piece_start:index])
                if len(options) < 2:
                    raise InvalidPattern("a brace group needs at least two alternatives")
                return open_at, index, options
        elif char == "," and depth == 1:
            options.append(text[piece_start:index])
            piece_start = index + 1
    raise InvalidPattern("unbalanced '{' in glob")


# --- reasoning about two globs (for the privilege boundary) ------------------------------------


def _alt_subsumes(holder: Alternative, target: Alternative) -> bool:
    if holder.raw == target.raw:
        return True
    if target.is_literal:
        return _match_segments(holder.matchers, target.raw)
    if holder.is_prefix_globstar:
        prefix = holder.literal_prefix
        return target.literal_prefix[: len(prefix)] == prefix and len(target.literal_prefix) >= len(prefix)
    return False


def subsumes(holder: Glob, target: Glob) -> bool:
    """Conservative: True only when every value `target` matches is certainly matched by `holder`."""
    if holder.absolute != target.absolute:
        return False
    return all(any(_alt_subsumes(h, t) for h in holder.alternatives) for t in target.alternatives)


def _alt_disjoint(left: Alternative, right: Alternative) -> bool:
    if left.is_literal:
        return not _match_segments(right.matchers, left.raw)
    if right.is_literal:
        return not _match_segments(left.matchers, right.raw)
    common = min(len(left.literal_prefix), len(right.literal_prefix))
    return left.literal_prefix[:common] != right.literal_prefix[:common]


def disjoint(left: Glob, right: Glob) -> bool:
    """Conservative: True only when no value can match both globs."""
    if left.absolute != right.absolute:
        return True
    return all(_alt_disjoint(a, b) for a in left.alternatives for b in right.alternatives)


def literal_value(alternative: Alternative, *, absolute: bool) -> str:
    joined = "/".join(alternative.raw)
    return "/" + joined if absolute else joined


def any_match(glob: Glob, values: Iterable[str]) -> bool:
    return any(glob.match(value) for value in values)
