"""The pure reference expander: syntax, scoping, recursion, cycles, depth, literal replacement."""

from __future__ import annotations

import pytest

from tessera.secrets.references import MAX_DEPTH, Ref, apply_multiline_quirk, expand, parse_reference

ORIGIN = Ref("dev", "/app", "SELF")


def lookup_from(table: dict[Ref, str], calls: list[tuple[Ref, Ref]] | None = None):  # type: ignore[no-untyped-def]
    def lookup(ref: Ref, origin: Ref) -> str | None:
        if calls is not None:
            calls.append((ref, origin))
        return table.get(ref)

    return lookup


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("KEY", Ref("dev", "/app", "KEY")),
        ("prod.KEY", Ref("prod", "/", "KEY")),
        ("prod.a.b.KEY", Ref("prod", "/a/b", "KEY")),
        (" KEY ", Ref("dev", "/app", "KEY")),
        ("a..b", None),
        ("KEY.", None),
    ],
    ids=["local", "env-root", "env-path", "trimmed", "empty-part", "trailing-dot"],
)
def test_parse_reference(inner: str, expected: Ref | None) -> None:
    assert parse_reference(inner, environment="dev", path="/app") == expected


def test_local_and_cross_environment_references() -> None:
    table = {Ref("dev", "/app", "USER"): "u", Ref("prod", "/db", "HOST"): "h"}
    assert expand("${USER}@${prod.db.HOST}", ORIGIN, lookup_from(table)) == "u@h"


def test_every_occurrence_is_replaced_and_fetched_once() -> None:
    calls: list[tuple[Ref, Ref]] = []
    out = expand("${A}-${A}-${A}", ORIGIN, lookup_from({Ref("dev", "/app", "A"): "x"}, calls))
    assert out == "x-x-x"
    assert len(calls) == 1


@pytest.mark.parametrize(
    "value",
    ["${}", "${ SPACE }", "${a b}", "$A", "{A}", "${A"],
    ids=["empty", "spaces", "inner-space", "no-brace", "no-dollar", "unclosed"],
)
def test_non_references_are_left_alone(value: str) -> None:
    assert expand(value, ORIGIN, lookup_from({Ref("dev", "/app", "A"): "x"})) == value


@pytest.mark.parametrize("stored", [None, ""], ids=["missing", "empty"])
def test_unresolved_placeholders_stay(stored: str | None) -> None:
    table = {Ref("dev", "/app", "E"): stored} if stored is not None else {}
    assert expand("[${E}]", ORIGIN, lookup_from(table)) == "[${E}]"  # type: ignore[arg-type]


def test_nested_references_expand_in_their_own_context() -> None:
    table = {
        Ref("prod", "/", "URL"): "${HOST}:1",
        Ref("prod", "/", "HOST"): "prod-host",
        Ref("dev", "/app", "HOST"): "dev",
    }
    assert expand("${prod.URL}", ORIGIN, lookup_from(table)) == "prod-host:1"


def test_cycles_terminate() -> None:
    table = {Ref("dev", "/app", "A"): "a${B}", Ref("dev", "/app", "B"): "b${A}"}
    assert expand("${A}", ORIGIN, lookup_from(table)) == "ab${A}"
    assert expand("${SELF}", ORIGIN, lookup_from({ORIGIN: "loop"})) == "${SELF}"


def test_depth_limit() -> None:
    table = {Ref("dev", "/app", f"K{i}"): f"${{K{i + 1}}}" for i in range(MAX_DEPTH + 5)}
    table[Ref("dev", "/app", f"K{MAX_DEPTH + 5}")] = "end"
    out = expand("${K0}", ORIGIN, lookup_from(table))
    assert out == f"${{K{MAX_DEPTH}}}"
    shallow = {Ref("dev", "/app", "K0"): "${K1}", Ref("dev", "/app", "K1"): "end"}
    assert expand("${K0}", ORIGIN, lookup_from(shallow)) == "end"


def test_replacement_is_literal_and_inserted_text_is_not_rescanned() -> None:
    table = {Ref("dev", "/app", "A"): r"\1 $& ${B_LITERAL}", Ref("dev", "/app", "B"): "b"}
    assert expand("${A} ${B}", ORIGIN, lookup_from(table)) == r"\1 $& ${B_LITERAL} b"


def test_the_lookup_learns_who_refers_and_may_refuse() -> None:
    class Refused(Exception):
        pass

    def lookup(ref: Ref, origin: Ref) -> str | None:
        if ref.key == "SECRET":
            raise Refused(f"{ref} from {origin}")
        return "${SECRET}" if ref.key == "MID" else None

    with pytest.raises(Refused, match="key='MID'"):
        expand("${MID}", ORIGIN, lookup)


def test_multiline_quirk() -> None:
    assert apply_multiline_quirk("a\nb", True) == '"a\\nb"'
    assert apply_multiline_quirk("a\nb", False) == "a\nb"
    assert apply_multiline_quirk("ab", True) == "ab"
