"""Properties of glob matching, path normalisation and the evaluator, checked with hypothesis."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.rbac.boundary import missing_permissions
from tessera.rbac.evaluate import allowed
from tessera.rbac.glob import InvalidPath, compile_glob, normalize_secret_path
from tessera.rbac.permissions import parse_rules

segment = st.text(alphabet="abcxyz019-_", min_size=1, max_size=6)
segments = st.lists(segment, min_size=0, max_size=5)


def as_path(parts: list[str]) -> str:
    return "/" + "/".join(parts)


@given(segments)
def test_a_literal_pattern_matches_exactly_its_own_path(parts: list[str]) -> None:
    glob = compile_glob(as_path(parts), path=True)
    assert glob.match(as_path(parts))
    assert not glob.match(as_path([*parts, "extra"]))
    if parts:
        assert not glob.match(as_path(parts[:-1]))


@given(segments, segments)
def test_globstar_matches_the_folder_and_everything_below_only(prefix: list[str], path: list[str]) -> None:
    glob = compile_glob(as_path([*prefix, "**"]), path=True)
    expected = path[: len(prefix)] == prefix
    assert glob.match(as_path(path)) is expected


@given(segment, segments)
def test_star_never_crosses_a_slash(first: str, rest: list[str]) -> None:
    glob = compile_glob(f"/{first}/*", path=True)
    path = [first, *rest]
    assert glob.match(as_path(path)) is (len(rest) == 1)


@given(st.lists(st.sampled_from(["a", "b", "", "/", "//"]), max_size=8))
def test_normalisation_is_idempotent_and_canonical(pieces: list[str]) -> None:
    raw = "/".join(pieces)
    once = normalize_secret_path(raw)
    assert normalize_secret_path(once) == once
    assert once.startswith("/")
    assert "//" not in once
    assert once == "/" or not once.endswith("/")


@given(segments, segments, st.sampled_from(["..", "."]))
def test_dot_segments_are_always_rejected(before: list[str], after: list[str], dots: str) -> None:
    raw = as_path([*before, dots, *after])
    try:
        normalize_secret_path(raw)
    except InvalidPath:
        return
    raise AssertionError(f"{raw!r} was accepted")


@given(segments, st.sampled_from(["%2e%2e", "%2f", "\\", "\x00", " ", "\u2024\u2024"]), segments)
def test_encoded_and_odd_characters_are_rejected(before: list[str], odd: str, after: list[str]) -> None:
    raw = as_path([*before, odd, *after])
    try:
        normalize_secret_path(raw)
    except InvalidPath:
        return
    raise AssertionError(f"{raw!r} was accepted")


CONFIG_READER = [
    {
        "subject": "secrets",
        "action": "read",
        "conditions": {"environment": "staging", "secretPath": {"$glob": "/config/**"}},
    }
]


@given(st.sampled_from(["dev", "staging", "prod"]), segments)
def test_scoped_role_allows_exactly_its_region(environment: str, parts: list[str]) -> None:
    fields = {"environment": environment, "secretPath": as_path(parts)}
    expected = environment == "staging" and parts[:1] == ["config"]
    assert allowed(CONFIG_READER, "read", "secrets", fields) is expected


rule_strategy = st.fixed_dictionaries(
    {
        "subject": st.just("secrets"),
        "action": st.sampled_from(["read", "describeSecret", "readValue", "edit"]),
        "conditions": st.fixed_dictionaries(
            {},
            optional={
                "environment": st.sampled_from(["dev", "prod", {"$in": ["dev", "prod"]}, {"$ne": "prod"}]),
                "secretPath": st.sampled_from(
                    ["/a", {"$glob": "/a/**"}, {"$glob": "/**"}, {"$glob": "/b/*"}]
                ),
            },
        ),
        "inverted": st.booleans(),
    }
)
check_strategy = st.fixed_dictionaries(
    {
        "environment": st.sampled_from(["dev", "prod", "staging"]),
        "secretPath": st.sampled_from(["/", "/a", "/a/x", "/b/y"]),
    }
)
action_strategy = st.sampled_from(["read", "describeSecret", "readValue", "edit"])


@settings(max_examples=300)
@given(st.lists(rule_strategy, max_size=5), rule_strategy, check_strategy, action_strategy)
def test_adding_a_deny_never_widens_and_adding_an_allow_never_narrows(
    rules: list[dict[str, Any]], extra: dict[str, Any], fields: dict[str, str], action: str
) -> None:
    before = allowed(rules, action, "secrets", fields)
    after = allowed([*rules, extra], action, "secrets", fields)
    if extra["inverted"]:
        assert after <= before
    else:
        assert after >= before


@given(st.lists(rule_strategy, max_size=4))
def test_rule_order_does_not_matter(rules: list[dict[str, Any]]) -> None:
    for fields in (
        {"environment": "prod", "secretPath": "/a/x"},
        {"environment": "dev", "secretPath": "/b/y"},
    ):
        assert allowed(rules, "readValue", "secrets", fields) == allowed(
            list(reversed(rules)), "readValue", "secrets", fields
        )


@settings(max_examples=300)
@given(
    st.lists(rule_strategy, max_size=4), st.lists(rule_strategy, max_size=3), check_strategy, action_strategy
)
def test_boundary_is_sound(
    holder: list[dict[str, Any]], target: list[dict[str, Any]], fields: dict[str, str], action: str
) -> None:
    """If the boundary lets the holder grant `target`, the target never allows what the holder cannot."""
    if missing_permissions(parse_rules(holder, "project"), parse_rules(target, "project")):
        return
    if allowed(target, action, "secrets", fields):
        assert allowed(holder, action, "secrets", fields)
