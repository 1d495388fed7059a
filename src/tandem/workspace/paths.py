"""Project-relative paths. Every path from a user or an agent goes through `project_path` first."""

from __future__ import annotations

import re

from tandem.errors import InvalidInput

MAX_PATH_CHARS = 1024
MAX_SEGMENT_CHARS = 255
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafePath(InvalidInput):
    """A path that would leave the project or cannot name a file in it."""


def project_path(raw: str) -> str:
    """Return the normalised relative POSIX form of `raw`, or raise `UnsafePath` saying why."""
    if not raw or not raw.strip():
        raise UnsafePath("path is empty")
    if "\x00" in raw:
        raise UnsafePath("path contains a NUL byte")
    if _CONTROL.search(raw):
        raise UnsafePath("path contains control characters")
    if "\\" in raw:
        raise UnsafePath(f"path {raw!r} contains a backslash; use '/' between folders")
    if _PERCENT_ESCAPE.search(raw):
        raise UnsafePath(f"path {raw!r} contains a percent-encoded character; pass the plain path")
    if raw.startswith("/") or raw.startswith("~") or _DRIVE.match(raw):
        raise UnsafePath(f"path {raw!r} is absolute; paths are relative to the project root")
    segments = [segment for segment in raw.split("/") if segment not in ("", ".")]
    if any(segment == ".." for segment in segments):
        raise UnsafePath(f"path {raw!r} contains '..'; paths must stay inside the project")
    if not segments:
        raise UnsafePath(f"path {raw!r} names the project root, not a file")
    if any(len(segment) > MAX_SEGMENT_CHARS for segment in segments):
        raise UnsafePath(f"a name in {raw!r} is longer than {MAX_SEGMENT_CHARS} characters")
    normalised = "/".join(segments)
    if len(normalised) > MAX_PATH_CHARS:
        raise UnsafePath(f"path is longer than {MAX_PATH_CHARS} characters")
    return normalised
