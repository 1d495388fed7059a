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
