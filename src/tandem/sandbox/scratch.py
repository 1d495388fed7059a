"""Per-command folders: a command's copy of the project and its `/tmp`, removed when it ends.

Each folder is named after the process that made it, so a server that was killed (kill -9, a
crash) leaves nothing behind for long: the next start-up on the same machine removes every folder
whose process is gone."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def default_root() -> Path:
    # Not under the data folder: the command's user must be able to reach it, and a data folder
    # (or pytest's temporary one) is often private to the server's user.
    return Path(tempfile.gettempdir()) / f"tandem-commands-{os.geteuid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Scratch:
    def __init__(self, root: Path, *, uid: int | None) -> None:
        """`uid`: the user commands run as, when it is not the server's own."""
        self.root = root
        self._uid = uid

    def prepare(self) -> None:
        """Create the root, refusing one that another user could have planted (a shared `/tmp`)."""
        self.root.mkdir(mode=0o711, exist_ok=True)
        info = self.root.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise PermissionError(f"{self.root} is not a folder owned by this server's user")
        # Others may pass through to their own folder, but not list what is here.
        self.root.chmod(0o711)

    def sweep(self) -> int:
        """Remove the folders of processes that are gone; how many."""
        removed = 0
        for entry in self.root.iterdir():
            pid, _, _ = entry.name.partition("-")
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed

    @contextlib.contextmanager
    def folder(self) -> Iterator[Path]:
        """A new folder holding an empty `project` and `tmp`, writable by the command's user."""
        folder = self.root / f"{os.getpid()}-{secrets.token_hex(8)}"
        folder.mkdir(mode=0o711)
        try:
            for name in ("project", "tmp"):
                (folder / name).mkdir(mode=0o700)
                if self._uid is not None:
                    os.chown(folder / name, self._uid, self._uid)
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def hand_over(self, tree: Path) -> None:
        """Make what the server wrote under `tree` the command's to change (when it runs as another user)."""
        if self._uid is None:
            return
        for directory, folders, files in os.walk(tree):
            for name in [*folders, *files]:
                os.chown(os.path.join(directory, name), self._uid, self._uid, follow_symlinks=False)
