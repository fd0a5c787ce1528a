"""Glob matching and secret-path normalisation: exact picomatch-like semantics, no escapes."""

from __future__ import annotations

import pytest

from tessera.rbac.glob import (
    InvalidPath,
    InvalidPattern,
    compile_glob,
    disjoint,
    normalize_secret_path,
    subsumes,
)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/", "/"),
        ("", "/"),
        ("/config", "/config"),
        ("/config/", "/config"),
        ("config/db", "/config/db"),
        ("//config///db//", "/config/db"),
        ("/a-b/c_d/E9", "/a-b/c_d/E9"),
    ],
)
def test_normalize_secret_path(raw: str, normalized: str) -> None:
    assert normalize_secret_path(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("/config/..", id="dotdot-last"),
        pytest.param("/config/../other", id="dotdot-middle"),
        pytest.param("/../config", id="dotdot-first"),
        pytest.param("/config/./db", id="dot-segment"),
        pytest.param("/config/%2e%2e/other", id="percent-encoded-dotdot"),
        pytest.param("/config%2fother", id="percent-encoded-slash"),
        pytest.param("/config\\..\\other", id="backslash"),
        pytest.param("/config/\x00", id="nul"),
        pytest.param("/config/\n", id="newline"),
        pytest.param("/config /db", id="space"),
        pytest.param("/conf\u0131g", id="non-ascii"),
        pytest.param("/config/*", id="glob-star"),
        pytest.param("/config/{a,b}", id="glob-braces"),
        pytest.param("/" + "a" * 1100, id="too-long"),
    ],
)
def test_normalize_rejects_ambiguous_paths(raw: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_secret_path(raw)


MATCHES = [
    ("/config/**", "/config", True),
    ("/config/**", "/config/db", True),
    ("/config/**", "/config/db/nested/deep", True),
    ("/config/**", "/configuration", False),
    ("/config/**", "/other", False),
    ("/config/**", "/", False),
    ("/config/**", "/other/config", False),
    ("/**", "/", True),
    ("/**", "/anything/at/all", True),
    ("/", "/", True),
    ("/", "/a", False),
    ("/config/*", "/config/db", True),
    ("/config/*", "/config", False),
    ("/config/*", "/config/db/nested", False),
    ("/*", "/a", True),
    ("/*", "/a/b", False),
    ("/conf*", "/config", True),
    ("/conf*", "/config/db", False),
    ("/a/**/z", "/a/z", True),
    ("/a/**/z", "/a/b/c/z", True),
    ("/a/**/z", "/a/b/c", False),
    ("/**/db", "/db", True),
    ("/**/db", "/x/y/db", True),
    ("/a/?", "/a/b", True),
    ("/a/?", "/a/bc", False),
    ("/a/[bc]", "/a/c", True),
    ("/a/[bc]", "/a/d", False),
    ("/a/[!bc]", "/a/d", True),
    ("/a/[!bc]", "/a/b", False),
    ("/a/[a-c]x", "/a/bx", True),
    ("/{app,web}/**", "/web/x", True),
    ("/{app,web}/**", "/api/x", False),
    ("/a/{b,c/{d,e}}", "/a/c/e", True),
    ("/a/{b,c/{d,e}}", "/a/c", False),
    ("/a/b**", "/a/bcd", True),
    ("/a/b**", "/a/b/c", False),
    ("/config/", "/config", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCHES, ids=[f"{p} ~ {v}" for p, v, _ in MATCHES])
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert compile_glob(pattern, path=True).match(path) is expected


def test_glob_on_plain_values() -> None:
    glob = compile_glob("prod*", path=False)
    assert glob.match("prod")
    assert glob.match("production")
    assert not glob.match("staging")
    assert not glob.match("prod/x")  # `*` never crosses a slash


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("config/**", id="relative-path"),
        pytest.param("", id="empty"),
        pytest.param("!/config/**", id="negation"),
        pytest.param("/config/@(a|b)", id="extglob"),
        pytest.param("/config/../**", id="dotdot"),
        pytest.param("/config/./x", id="dot"),
        pytest.param("/a/{b", id="unbalanced-open"),
        pytest.param("/a/b}", id="unbalanced-close"),
        pytest.param("/a/{b}", id="single-alternative"),
        pytest.param("/a/[bc", id="unclosed-class"),
        pytest.param("/a/[z-a]", id="reversed-range"),
        pytest.param("/a/[[:alpha:]]", id="posix-class"),
        pytest.param("/a\\*", id="backslash"),
        pytest.param("/{{identity.id}}/**", id="template"),
        pytest.param("/" + "{a,b}" * 8, id="too-many-alternatives"),
    ],
)
def test_invalid_path_globs_are_rejected(pattern: str) -> None:
    with pytest.raises(InvalidPattern):
        compile_glob(pattern, path=True)


@pytest.mark.parametrize(
    ("holder", "target", "expected"),
    [
        ("/config/**", "/config/**", True),
        ("/config/**", "/config/db/**", True),
        ("/config/**", "/config/db", True),
        ("/config/**", "/config/*", True),
        ("/config/**", "/config", True),
        ("/config/**", "/conf*", False),
        ("/config/**", "/**", False),
        ("/config/**", "/other/**", False),
        ("/config/**", "/{config,other}/**", False),
        ("/**", "/anything/**", True),
        ("/**", "/a*/b", True),
        ("/config/*", "/config/**", False),
        ("/config/*", "/config/db", True),
        ("/config", "/config/**", False),
    ],
)
def test_subsumes_is_conservative(holder: str, target: str, expected: bool) -> None:
    assert subsumes(compile_glob(holder, path=True), compile_glob(target, path=True)) is expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("/a/**", "/b/**", True),
        ("/a/**", "/a/b/**", False),
        ("/a/**", "/**", False),
        ("/a", "/b/*", True),
        ("/a/x", "/a/*", False),
        # Truly disjoint, but not provable from literal prefixes: reported as overlapping (safe side).
        ("/a*", "/b/**", False),
    ],
)
def test_disjoint_is_conservative(left: str, right: str, expected: bool) -> None:
    assert disjoint(compile_glob(left, path=True), compile_glob(right, path=True)) is expected
