"""A project's files in a folder for a command to work on, and what it changed, back as the run's changes."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from tandem.errors import TandemError
from tandem.events import ChangeType
from tandem.workspace.files import ProjectFiles
from tandem.workspace.importing import SKIPPED_DIRS

Digests = dict[str, str]
"""Project path → SHA-256 of the file's bytes."""


@dataclass(frozen=True, kw_only=True)
class Change:
    path: str
    change_type: ChangeType
    change_id: int | None
    """The run's code change; None for a change made outside a run (saved like a manual edit)."""


@dataclass(kw_only=True)
class Returned:
    changes: list[Change] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """`path: why`, for what the command left that the project cannot take."""


def _digests(root: Path, *, max_files: int) -> tuple[Digests, list[str]]:
    digests: Digests = {}
    refused: list[str] = []
    for directory, folders, files in os.walk(root):
        # Dependencies and build output (node_modules, __pycache__, dist…) are not part of a
        # project, as on import; not even walked, for they can hold a great many files.
        folders[:] = sorted(name for name in folders if name not in SKIPPED_DIRS)
        for name in sorted(files):
            absolute = Path(directory, name)
            path = absolute.relative_to(root).as_posix()
            if absolute.is_symlink() or not absolute.is_file():
                refused.append(f"{path}: not a regular file")
            elif len(digests) >= max_files:
                refused.append(f"{path}: more than {max_files} files (TANDEM_MAX_PROJECT_FILES)")
            else:
                digests[path] = hashlib.sha256(absolute.read_bytes()).hexdigest()
    return digests, refused


async def check_out(files: ProjectFiles, folder: Path) -> Digests:
    """Write the project's files under `folder`; what they were, to compare with afterwards."""
    await files.export(folder)
    digests, _ = await asyncio.to_thread(_digests, folder, max_files=files.limits.max_files)
    return digests


async def check_in(files: ProjectFiles, folder: Path, before: Digests, *, run_id: str | None) -> Returned:
    """Take back every file the command created, changed or deleted under `folder`: each a change of
    run `run_id` (seen as a diff, reverted like the agents' edits), or without a run, like a manual edit."""
    after, refused = await asyncio.to_thread(_digests, folder, max_files=files.limits.max_files)
    returned = Returned(refused=refused)
    for path in sorted(after):
        if before.get(path) == after[path]:
            continue
        absolute = folder / path
        if absolute.stat().st_size > files.limits.max_file_bytes:
            returned.refused.append(f"{path}: larger than {files.limits.max_file_bytes} bytes (TANDEM_MAX_FILE_BYTES)")
            continue
        try:
            content = absolute.read_bytes().decode()
        except UnicodeDecodeError:
            returned.refused.append(f"{path}: a binary file (only text is taken back)")
            continue
        try:
            info, change = await files.write(path, content, run_id=run_id)
        except TandemError as error:
            returned.refused.append(f"{path}: {error.message}")
            continue
        if change is not None or run_id is None:
            kind: ChangeType = "modified" if path in before else "created"
            returned.changes.append(
                Change(path=info.path, change_type=kind, change_id=None if change is None else change.id)
            )
    for path in sorted(before.keys() - after.keys()):
        try:
            deleted = await files.delete(path, run_id=run_id)
        except TandemError as error:
            returned.refused.append(f"{path}: {error.message}")
            continue
        if deleted is not None or run_id is None:
            returned.changes.append(
                Change(path=path, change_type="deleted", change_id=None if deleted is None else deleted.id)
            )
    return returned
