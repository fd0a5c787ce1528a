"""Hypothesis properties that tests/unit/rbac and tests/unit/secrets do not already state.

* Path normalisation: the secrets layer (`secrets.names.normalise_path`, what storage uses) and
  the permission layer (`rbac.glob.normalize_secret_path`, what rules are checked against) must
  agree on every path either accepts, or a path could be stored under one name and authorised
  under another. `is_within` (folder containment) must agree with a `/base/**` rule.
* The permission evaluator on arbitrary, hostile paths and names: a deny of a folder covers the
  folder and everything under it for every action, never its siblings that share a prefix;
  glob characters in a checked value never widen a rule; case is significant.
* Reference expansion over arbitrary reference graphs: it terminates, looks each reference up
  at most once per expansion branch and never deeper than the limit, inserts values literally,
  and stops the whole expansion when a lookup refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import Forbidden, TesseraError
from tessera.rbac.evaluate import allowed
from tessera.rbac.glob import InvalidPath, compile_glob, normalize_secret_path
from tessera.secrets.names import is_within, normalise_path
from tessera.secrets.references import MAX_DEPTH, PLACEHOLDER, Ref, expand

# --- path normalisation ------------------------------------------------------------------------

folder = st.text(alphabet="abAB09_-", min_size=1, max_size=5)
hostile_piece = st.sampled_from(
    [
        "",
        ".",
        "..",
        "%2e%2e",
        "%2f",
        "\\",
        "..\\",
        "\x00",
        "\n",
        " ",
        "\u2024\u2024",
        "\uff0e\uff0e",
        "*",
        "**",
        "?",
        "[a]",
        "{a,b}",
        "a b",
        "é",
        "e\u0301",
        "\u202e",
    ]
)
raw_path = st.lists(st.one_of(folder, hostile_piece), max_size=8).map("/".join) | st.text(max_size=40)


def _secrets_form(raw: str) -> str | None:
    try:
        return normalise_path(raw)
    except TesseraError:
        return None


def _rbac_form(raw: str) -> str | None:
    try:
        return normalize_secret_path(raw)
    except InvalidPath:
        return None


@settings(max_examples=400)
@given(raw_path)
def test_storage_and_authorisation_agree_on_every_accepted_path(raw: str) -> None:
    stored = _secrets_form(raw)
    if stored is None:
        return
    assert _rbac_form(stored) == stored, "the permission layer spells a stored path differently"
    assert _secrets_form(stored) == stored
    assert stored == "/" or (stored.startswith("/") and not stored.endswith("/") and "//" not in stored)
    assert ".." not in stored.split("/")


@settings(max_examples=300)
@given(raw_path)
def test_anything_storage_accepts_has_no_dot_escape_or_encoding(raw: str) -> None:
    stored = _secrets_form(raw)
    if stored is None:
        return
    for forbidden in ("%", "\\", "\x00", "*", "?", "[", "{", " ", "\n"):
        assert forbidden not in stored
    assert stored.isascii()


@given(st.lists(folder, max_size=5), st.lists(folder, max_size=5))
def test_folder_containment_matches_a_globstar_rule(base: list[str], path: list[str]) -> None:
    base_path = "/" + "/".join(base)
    full = "/" + "/".join(path)
    rule = compile_glob(base_path.rstrip("/") + "/**", path=True)
    assert is_within(full, base_path) is rule.match(full)


# --- the evaluator on hostile input ------------------------------------------------------------

ACTIONS = ["read", "describeSecret", "readValue", "create", "edit", "delete"]


def _rules(allow_glob: str, deny_glob: str) -> list[dict[str, Any]]:
    return [
        {
            "subject": "secrets",
            "action": ACTIONS,
            "conditions": {"environment": "dev", "secretPath": {"$glob": allow_glob}},
        },
        {
            "subject": "secrets",
            "action": ACTIONS,
            "conditions": {"environment": "dev", "secretPath": {"$glob": deny_glob}},
            "inverted": True,
        },
    ]


DENY_PRIVATE = _rules("/app/**", "/app/private/**")


@settings(max_examples=300)
@given(st.sampled_from(ACTIONS), st.lists(folder, max_size=3))
def test_a_denied_folder_is_denied_with_everything_below_for_every_action(
    action: str, below: list[str]
) -> None:
    path = "/".join(["", "app", "private", *below])
    assert not allowed(DENY_PRIVATE, action, "secrets", {"environment": "dev", "secretPath": path})


@settings(max_examples=300)
@given(st.sampled_from(ACTIONS), folder)
def test_a_deny_never_reaches_siblings_that_share_its_prefix(action: str, suffix: str) -> None:
    sibling = f"/app/private{suffix}"
    assert allowed(DENY_PRIVATE, action, "secrets", {"environment": "dev", "secretPath": sibling})


@settings(max_examples=300)
@given(st.sampled_from(ACTIONS), raw_path)
def test_no_spelling_of_a_path_escapes_the_deny_or_the_grant(action: str, raw: str) -> None:
    """Whatever the raw path, the decision is the decision for its canonical form, or a refusal."""
    fields = {"environment": "dev", "secretPath": raw}
    decision = allowed(DENY_PRIVATE, action, "secrets", fields)
    canonical = _rbac_form(raw)
    if canonical is None:
        assert decision is False
        return
    inside = canonical == "/app" or canonical.startswith("/app/")
    private = canonical == "/app/private" or canonical.startswith("/app/private/")
    assert decision is (inside and not private)


glob_text = st.text(alphabet="*?[]{},!ab/", min_size=1, max_size=8)


@settings(max_examples=300)
@given(st.sampled_from(ACTIONS), glob_text)
def test_glob_characters_in_a_checked_name_are_literal(action: str, name: str) -> None:
    rule = [
        {
            "subject": "secrets",
            "action": ACTIONS,
            "conditions": {"environment": "dev", "secretName": "ALLOWED"},
        }
    ]
    fields = {"environment": "dev", "secretPath": "/", "secretName": name}
    assert not allowed(rule, action, "secrets", fields)


@settings(max_examples=200)
@given(st.sampled_from(ACTIONS), st.lists(folder, min_size=1, max_size=3))
def test_case_is_significant_in_paths_and_environments(action: str, below: list[str]) -> None:
    path = "/".join(["", "APP", *below])
    assert not allowed(DENY_PRIVATE, action, "secrets", {"environment": "dev", "secretPath": path})
    upper_env = {"environment": "DEV", "secretPath": "/app"}
    assert not allowed(DENY_PRIVATE, action, "secrets", upper_env)


# --- reference expansion --------------------------------------------------------------------------

KEYS = ["A", "B", "C", "D"]
ENVS = ["dev", "prod"]
refs = st.builds(Ref, st.sampled_from(ENVS), st.sampled_from(["/", "/x"]), st.sampled_from(KEYS))


def _placeholder(ref: Ref, origin: Ref) -> str:
    if (ref.environment, ref.path) == (origin.environment, origin.path):
        return "${" + ref.key + "}"
    folders = [part for part in ref.path.split("/") if part]
    return "${" + ".".join([ref.environment, *folders, ref.key]) + "}"


text_piece = st.sampled_from(["", "x", "\\1", "\\g<0>", "$", "${", "}", "$$", "${ A }", "\n"])


@st.composite
def graphs(draw: st.DrawFn) -> dict[Ref, str]:
    """Stored values that mix literal text (including regex-replacement syntax) and references."""
    table: dict[Ref, str] = {}
    for ref in draw(st.lists(refs, max_size=8, unique=True)):
        parts = draw(
            st.lists(st.one_of(text_piece, refs.map(lambda r, o=ref: _placeholder(r, o))), max_size=4)
        )
        table[ref] = "".join(parts)
    return table


def _counting(table: dict[Ref, str], calls: list[Ref]) -> Callable[[Ref, Ref], str | None]:
    def lookup(ref: Ref, _origin: Ref) -> str | None:
        calls.append(ref)
        return table.get(ref)

    return lookup


@settings(max_examples=400)
@given(graphs(), refs)
def test_expansion_terminates_with_bounded_lookups(table: dict[Ref, str], origin: Ref) -> None:
    calls: list[Ref] = []
    value = table.get(origin, "${A}${prod.x.B}")
    out = expand(value, origin, _counting(table, calls))
    assert isinstance(out, str)
    # Each branch looks a reference up at most once, and no branch is deeper than the limit; with
    # at most 8 distinct references and 4 placeholders per value, this bound is generous but finite.
    assert len(calls) <= sum(4**depth for depth in range(1, MAX_DEPTH + 1))
    assert len(set(calls)) <= len(table) + 8


@settings(max_examples=300)
@given(st.text(max_size=30).filter(lambda text: "${" not in text), refs)
def test_text_without_placeholders_is_returned_unchanged_and_looks_nothing_up(text: str, origin: Ref) -> None:
    calls: list[Ref] = []
    assert expand(text, origin, _counting({}, calls)) == text
    assert calls == []


@settings(max_examples=300)
@given(st.text(alphabet="ab\\$g<>0{}1\n", max_size=20), refs)
def test_referenced_values_are_inserted_literally(stored: str, origin: Ref) -> None:
    """A value holding `\\1`, `\\g<0>` or `$` is copied verbatim (no regex-replacement meaning)."""
    target = Ref(origin.environment, origin.path, "LITERAL")
    expected = stored if stored and "${" not in stored else None
    out = expand("<${LITERAL}>", origin, _counting({target: stored}, []))
    if expected is not None:
        assert out == f"<{stored}>"
    elif not stored:
        assert out == "<${LITERAL}>"


@settings(max_examples=200)
@given(graphs(), refs)
def test_every_lookup_is_for_a_reference_written_in_a_value_seen(table: dict[Ref, str], origin: Ref) -> None:
    """Expansion never invents references: each lookup names a placeholder present in a value."""
    value = table.get(origin, "${A}")
    calls: list[Ref] = []
    expand(value, origin, _counting(table, calls))
    written = {match.group(0) for text in [value, *table.values()] for match in PLACEHOLDER.finditer(text)}
    for ref in calls:
        spellings = {_placeholder(ref, other) for other in [origin, *table]} | {
            "${" + ".".join([ref.environment, *[p for p in ref.path.split("/") if p], ref.key]) + "}"
        }
        assert spellings & written, ref


@given(graphs(), refs)
def test_a_refused_lookup_stops_the_whole_expansion(table: dict[Ref, str], origin: Ref) -> None:
    def refuse(ref: Ref, _origin: Ref) -> str | None:
        raise Forbidden("no", reason="reference_forbidden")

    value = table.get(origin, "") + "${OTHER}"  # never the origin itself (that is a cycle)
    with pytest.raises(Forbidden):
        expand(value, origin, refuse)
