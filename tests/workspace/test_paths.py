from __future__ import annotations

import pytest

from tandem.workspace.paths import UnsafePath, project_path


@pytest.mark.parametrize(
    "raw",
    [
        "../x",
        "/etc/passwd",
        "a/../../x",
        "a\\..\\x",
        "a\x00b",
        "%2e%2e/x",
        "%2E%2E%2Fx",
        "C:/x",
        "~/x",
        "",
        "  ",
        ".",
        "a/\n",
    ],
)
def test_unsafe_paths_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(UnsafePath) as refused:
        project_path(raw)
    assert refused.value.message


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("src/App.tsx", "src/App.tsx"),
        ("./a//b/./c.txt", "a/b/c.txt"),
        ("a/b/", "a/b"),
        ("dir.with.dots/x..y", "dir.with.dots/x..y"),
    ],
)
def test_safe_paths_are_normalised(raw: str, normalised: str) -> None:
    assert project_path(raw) == normalised


def test_overlong_segments_are_refused() -> None:
    with pytest.raises(UnsafePath):
        project_path("a" * 256)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "path is empty"),
        ("a\x00b", "path contains a NUL byte"),
        ("a/\n", "path contains control characters"),
        ("a/" + "b" * 256, f"a name in {'a/' + 'b' * 256!r} is longer than 255 characters"),
        ("/".join(["a" * 255] * 5), "path is longer than 1024 characters"),
    ],
)
def test_a_refusal_says_which_rule_the_path_broke(raw: str, reason: str) -> None:
    with pytest.raises(UnsafePath) as refused:
        project_path(raw)
    assert refused.value.message == reason


def test_names_and_paths_at_their_length_limits_are_accepted() -> None:
    longest_name = "a" * 255
    assert project_path(longest_name) == longest_name
    longest_path = "/".join(["a" * 255] * 3 + ["a" * 254, "b"])
    assert len(longest_path) == 1024
    assert project_path(longest_path) == longest_path
