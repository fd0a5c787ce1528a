"""Path, folder-name, secret-name and value rules (pure)."""

from __future__ import annotations

import pytest

from tessera.errors import PayloadTooLarge, ValidationFailure
from tessera.secrets.names import (
    MAX_VALUE_BYTES,
    PATH_MAX_DEPTH,
    is_within,
    join_path,
    normalise_path,
    normalise_value,
    parent_path,
    validate_folder_name,
    validate_secret_name,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/", "/"),
        ("/a/b/", "/a/b"),
        ("a/b", "/a/b"),
        ("//a//b//", "/a/b"),
        (" /a ", "/a"),
    ],
)
def test_paths_are_canonical(raw: str | None, expected: str) -> None:
    assert normalise_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "/a/../b",
        "/a/./b",
        "..",
        "/a\\b",
        "/%2e%2e",
        "/\uff0e\uff0e",
        "/a b",
        "/a\x00",
        "/a\nb",
        "/" + "/".join(["a"] * (PATH_MAX_DEPTH + 1)),
        "/" + "a" * 65,
    ],
    ids=[
        "dotdot",
        "dot",
        "bare",
        "backslash",
        "percent",
        "fullwidth",
        "space",
        "nul",
        "newline",
        "too-deep",
        "long-segment",
    ],
)
def test_bad_paths_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailure):
        normalise_path(raw)


def test_path_helpers() -> None:
    assert join_path("/", "a") == "/a"
    assert join_path("/a", "b") == "/a/b"
    assert parent_path("/a/b") == "/a"
    assert parent_path("/a") == parent_path("/") == "/"
    assert is_within("/a/b", "/a")
    assert is_within("/a", "/a")
    assert is_within("/x", "/")
    assert not is_within("/ab", "/a")


@pytest.mark.parametrize("name", ["", " ", "a/b", "a.b", "a b", "x" * 65])
def test_folder_names(name: str) -> None:
    with pytest.raises(ValidationFailure, match="Invalid folder name"):
        validate_folder_name(name)
    assert validate_folder_name(" ok-name_1 ") == "ok-name_1"


def test_secret_names_are_trimmed_and_nfc_normalised() -> None:
    assert validate_secret_name("  KEY ") == "KEY"
    assert validate_secret_name("cafe\u0301") == "caf\u00e9"


@pytest.mark.parametrize(
    "name",
    ["", "a:b", "a/b", "a\\b", "a\u202eb", "a\u200bb", "a\x1bb", "x" * 257],
    ids=["empty", "colon", "slash", "backslash", "bidi", "zwsp", "esc", "long"],
)
def test_bad_secret_names(name: str) -> None:
    with pytest.raises(ValidationFailure):
        validate_secret_name(name)


def test_values() -> None:
    assert normalise_value("  v  ") == "v"
    assert normalise_value("v\n") == "v\n"
    assert normalise_value("v \n\n") == "v\n"
    assert len(normalise_value("x" * MAX_VALUE_BYTES)) == MAX_VALUE_BYTES
    with pytest.raises(PayloadTooLarge, match="maximum size"):
        normalise_value("é" * (MAX_VALUE_BYTES // 2 + 1))
