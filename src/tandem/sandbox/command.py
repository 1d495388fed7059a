"""Running a command in a sandbox: the interface every isolation mechanism implements, and what a
command gives back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

OutputSink = Callable[[str], Awaitable[None]]
"""Receives the command's output (stdout and stderr interleaved) as it is printed."""


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    exit_code: int | None
    """`None` when the sandbox stopped the command (then `stopped` says why)."""
    output: str
    stopped: str | None = None
    """Why the sandbox ended the command, naming the limit and its setting."""
    note: str | None = None
    """A likely cause of a failure, such as a limit the command ran into."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        status = f"Stopped: {self.stopped}" if self.stopped is not None else f"Exit code {self.exit_code}"
        return f"{status}. {self.note}" if self.note else status


@dataclass(frozen=True, kw_only=True)
class SandboxStatus:
    available: bool
    detail: str
    """What isolates commands, or why commands cannot run, with the fix."""


class Sandbox(Protocol):
    def folder(self) -> AbstractContextManager[Path]:
        """A new, empty folder for one command (`project` and `tmp` in it), removed afterwards."""
        ...

    async def run(self, command: str, *, folder: Path, on_output: OutputSink) -> CommandResult:
        """Run `command` with `/bin/sh -c` in `folder/project` (its working directory, the only
        writable place besides `folder/tmp`). Cancelling the caller kills every process at once."""
        ...
