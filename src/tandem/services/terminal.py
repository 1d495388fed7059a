"""The user's Terminal: a command over a copy of the project's files, in the sandbox the Coder's
`run_command` uses, with the same limits. Its output streams as it is printed; the files it creates,
changes or deletes are saved like manual edits (the history's next commit holds them).

One command at a time per project in this process, and none while a run works on the project (409);
at most TANDEM_MAX_COMMANDS_PER_USER of one user's at once in this process (429), for each costs a
sandbox's worth of CPU and memory.
the run's agents would see files change under them, and its changes would interleave with the
command's. A run that starts while a command goes on finds the command's results saved like an edit
in the editor at that moment. Stopping is the client leaving (the Stop button aborts the request):
the command's processes are killed at once, and what it wrote is dropped, not saved.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Busy, RateLimited, SandboxUnavailable, TandemError
from tandem.events import (
    CommandChange,
    CommandEndData,
    CommandEndEvent,
    CommandOutputData,
    CommandOutputEvent,
    sse_frame,
)
from tandem.sandbox.bubblewrap import Commands
from tandem.sandbox.command import CommandResult, Sandbox
from tandem.services import access, projects
from tandem.services.principal import Principal
from tandem.workspace.checkout import Returned, check_in, check_out
from tandem.workspace.files import FileLimits, ProjectFiles

_DONE = None


def _nothing() -> None:
    pass


class _Reserved:
    """A command's frames; the project's place is freed however the stream ends, even before its first frame
    (an async generator that never started runs no `finally` when closed)."""

    def __init__(self, frames: AsyncGenerator[bytes], release: Callable[[], None]) -> None:
        self._frames = frames
        self._release = release

    def __aiter__(self) -> _Reserved:
        return self

    async def __anext__(self) -> bytes:
        return await self._frames.__anext__()

    async def aclose(self) -> None:
        release, self._release = self._release, _nothing
        try:
            await self._frames.aclose()
        finally:
            release()


class Terminal:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        commands: Commands,
        file_limits: FileLimits,
        max_per_user: int,
    ) -> None:
        self._sessions = sessions
        self._commands = commands
        self._file_limits = file_limits
        self._max_per_user = max_per_user
        self._running: set[int] = set()
        self._per_user: Counter[int] = Counter()

    async def start(self, user: Principal, project_id: int, command: str) -> AsyncIterator[bytes]:
        """Check that the command may run now and hold the project's place; its SSE frames, once read, run it."""
        async with self._sessions() as session:
            await access.require(session, user, project_id, "write")
            await projects.require_idle(session, project_id, "running a command")
        sandbox = self._commands.found.sandbox
        if sandbox is None:
            raise SandboxUnavailable(f"commands cannot run on this server: {self._commands.found.status.detail}")
        if project_id in self._running:
            raise Busy(f"a command is already running on project {project_id}; stop it or wait for it")
        if self._per_user[user.id] >= self._max_per_user:
            raise RateLimited(
                f"you have {self._per_user[user.id]} commands running, the limit (TANDEM_MAX_COMMANDS_PER_USER); "
                "stop one or wait for it",
                retry_after=10,
            )
        self._running.add(project_id)
        self._per_user[user.id] += 1

        def release() -> None:
            self._running.discard(project_id)
            self._per_user[user.id] -= 1

        files = ProjectFiles(self._sessions, project_id, limits=self._file_limits)
        return _Reserved(_frames(sandbox, files, command), release)


async def _frames(sandbox: Sandbox, files: ProjectFiles, command: str) -> AsyncGenerator[bytes]:
    printed: asyncio.Queue[str | None] = asyncio.Queue()

    async def run() -> tuple[CommandResult, Returned]:
        try:
            with sandbox.folder() as folder:
                before = await check_out(files, folder / "project")
                result = await sandbox.run(command, folder=folder, on_output=printed.put)
                return result, await check_in(files, folder / "project", before, run_id=None)
        finally:
            printed.put_nowait(_DONE)

    task = asyncio.create_task(run(), name=f"command-{files.project_id}")
    seq, done = 0, False
    try:
        while not done:
            # What piled up while the client was being written to goes as one frame.
            parts = [await printed.get()]
            while not printed.empty():
                parts.append(printed.get_nowait())
            done = _DONE in parts
            if text := "".join(part for part in parts if part is not None):
                seq += 1
                yield sse_frame(seq, CommandOutputEvent(seq=seq, data=CommandOutputData(text=text)).model_dump_json())
        try:
            result, returned = await task
        except TandemError as error:  # the project went away meanwhile, say
            result, returned = CommandResult(exit_code=None, output="", stopped=error.message), Returned()
    finally:
        # The client left (Stop): cancelling kills every process of the command, and drops what it wrote.
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    end = CommandEndData(
        exit_code=result.exit_code,
        stopped=result.stopped,
        summary=result.summary(),
        changes=[CommandChange(path=change.path, change_type=change.change_type) for change in returned.changes],
        refused=returned.refused,
    )
    yield sse_frame(seq + 1, CommandEndEvent(seq=seq + 1, data=end).model_dump_json())
