"""A project's files, stored in the database so every process sees the same tree."""

from __future__ import annotations

import asyncio
import difflib
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Conflict, InvalidInput, LimitReached, NotFound, SearchFailed, TooLarge
from tandem.events import ChangeType
from tandem.persistence.models import CodeChangeRow, Project, ProjectFile, utcnow
from tandem.settings import Settings
from tandem.workspace import grep
from tandem.workspace.archive import export_project
from tandem.workspace.paths import project_path


@dataclass(frozen=True, kw_only=True)
class FileLimits:
    max_file_bytes: int
    max_files: int
    max_project_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> FileLimits:
        return cls(
            max_file_bytes=settings.max_file_bytes,
            max_files=settings.max_project_files,
            max_project_bytes=settings.max_project_bytes,
        )


@dataclass(frozen=True, kw_only=True)
class FileInfo:
    path: str
    size: int
    updated_at: datetime
    binary: bool = False


@dataclass(frozen=True, kw_only=True)
class FileContent(FileInfo):
    content: str


@dataclass(frozen=True, kw_only=True)
class SearchHit:
    path: str
    line: int
    text: str


def unified_diff(path: str, before: str | None, after: str | None) -> str:
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile="/dev/null" if before is None else f"a/{path}",
        tofile="/dev/null" if after is None else f"b/{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def check_size(content: str, max_bytes: int) -> None:
    size = len(content.encode())
    if size > max_bytes:
        raise TooLarge(f"file is {size} bytes; the limit is {max_bytes} bytes (TANDEM_MAX_FILE_BYTES)")


def _info(row: ProjectFile) -> FileInfo:
    return FileInfo(path=row.path, size=row.size, updated_at=row.updated_at, binary=row.data is not None)


def _text_of(row: ProjectFile) -> str:
    if row.data is not None:
        raise InvalidInput(f"{row.path!r} is a binary file ({row.size} bytes); it has no text to read or edit")
    return row.content


async def _get(session: AsyncSession, project_id: int, path: str) -> ProjectFile | None:
    return await session.scalar(
        select(ProjectFile).where(ProjectFile.project_id == project_id, ProjectFile.path == path)
    )


async def _existing(session: AsyncSession, project_id: int, path: str) -> ProjectFile:
    row = await _get(session, project_id, path)
    if row is None:
        raise NotFound(f"file {path!r} does not exist")
    return row


async def touch_project(session: AsyncSession, project_id: int) -> None:
    """Its files changed: the project list sorts and dates projects by this."""
    await session.execute(update(Project).where(Project.id == project_id).values(updated_at=utcnow()))


async def put_file(session: AsyncSession, project_id: int, path: str, content: str | None) -> ProjectFile | None:
    """Set a file's content inside the caller's transaction; `None` deletes it."""
    await touch_project(session, project_id)
    row = await _get(session, project_id, path)
    if content is None:
        if row is not None:
            await session.delete(row)
        return None
    size = len(content.encode())
    if row is None:
        row = ProjectFile(project_id=project_id, path=path, content=content, size=size)
        session.add(row)
    else:
        row.content = content
        row.data = None  # text put over a binary file (a revert) replaces it
        row.size = size
    await session.flush()
    return row


class ProjectFiles:
    """File operations of one project. Each call is one transaction; agent writes record a change."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], project_id: int, *, limits: FileLimits) -> None:
        self._sessions = sessions
        self.project_id = project_id
        self._limits = limits

    @property
    def limits(self) -> FileLimits:
        return self._limits

    async def export(self, folder: Path) -> int:
        """Write every file under `folder`; how many."""
        return await export_project(self._sessions, self.project_id, folder)

    async def list_files(self) -> list[FileInfo]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ProjectFile).where(ProjectFile.project_id == self.project_id).order_by(ProjectFile.path)
            )
            return [_info(row) for row in rows]

    async def read(self, path: str) -> FileContent:
        path = project_path(path)
        async with self._sessions() as session:
            row = await _existing(session, self.project_id, path)
            return FileContent(path=row.path, size=row.size, updated_at=row.updated_at, content=_text_of(row))

    async def write(
        self, path: str, content: str, *, run_id: str | None = None
    ) -> tuple[FileInfo, CodeChangeRow | None]:
        path = project_path(path)
        check_size(content, self._limits.max_file_bytes)
        async with self._sessions.begin() as session:
            existing = await _get(session, self.project_id, path)
            await self._check_growth(session, existing, len(content.encode()))
            before = _text_of(existing) if existing is not None else None
            row = await put_file(session, self.project_id, path, content)
            assert row is not None
            change = None
            if run_id is not None and before != content:
                change = self._record(session, run_id, path, before, content)
            await session.flush()
            return _info(row), change

    async def _check_growth(self, session: AsyncSession, existing: ProjectFile | None, size: int) -> None:
        """Refuse a write that adds a file past `max_files` or grows the project past `max_project_bytes`.
        A write that shrinks or keeps sizes always passes, so a project over a lowered limit can be trimmed."""
        old_size = existing.size if existing is not None else 0
        if existing is not None and size <= old_size:
            return
        count, total = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(ProjectFile.size), 0)).where(
                    ProjectFile.project_id == self.project_id
                )
            )
        ).one()
        if existing is None and count >= self._limits.max_files:
            raise LimitReached(
                f"project {self.project_id} has {count} files, the limit (TANDEM_MAX_PROJECT_FILES); delete some first"
            )
        grown = total - old_size + size
        if size > old_size and grown > self._limits.max_project_bytes:
            raise TooLarge(
                f"the project would hold {grown} bytes; the limit is {self._limits.max_project_bytes} bytes "
                "(TANDEM_MAX_PROJECT_BYTES)"
            )

    async def delete(self, path: str, *, run_id: str | None = None) -> CodeChangeRow | None:
        path = project_path(path)
        async with self._sessions.begin() as session:
            row = await _existing(session, self.project_id, path)
            # A change keeps text only: a binary file deleted by a run could not be restored by a revert.
            before = _text_of(row) if run_id is not None else row.content
            await session.delete(row)
            await touch_project(session, self.project_id)
            change = self._record(session, run_id, path, before, None) if run_id is not None else None
            await session.flush()
            return change

    async def rename(self, path: str, new_path: str) -> FileInfo:
        path, new_path = project_path(path), project_path(new_path)
        async with self._sessions.begin() as session:
            row = await _existing(session, self.project_id, path)
            if new_path != path and await _get(session, self.project_id, new_path) is not None:
                raise Conflict(f"file {new_path!r} already exists")
            row.path = new_path
            await touch_project(session, self.project_id)
            await session.flush()
            return _info(row)

    async def search(self, pattern: str, *, seconds: float, limit: int = 200) -> list[SearchHit]:
        """Lines matching a Python regular expression (or the literal text, if it is not a valid one).

        The agents choose the pattern, and a backtracking one such as `(a+)+$` takes exponential
        time: `re` on the 28-byte line `"a" * 27 + "!"` ran 14-20 s here, holding the GIL for the
        whole match, so no other request, no wall-clock limit and no cancel could run meanwhile (a
        worker thread does not help: the event loop stalled for the whole match). So the match runs
        in a child process (`tandem.workspace.grep`) with the same `re`, killed when `seconds` run
        out (a `SearchFailed` the agent reads) or as soon as the search is cancelled, which frees
        the CPU at once too. Measured alternatives: the `regex` module's `timeout=` with
        `concurrent=True` in a thread keeps the loop free, but its match cannot be stopped, so a
        cancelled search keeps a core busy for the rest of its budget (and a 3 s timeout ended after
        8 s under load); RE2 is linear in the text but not in the pattern (`(.*a){20}` on a 1 MB
        line: 0.7 s, unstoppable) and has no look-around or back-references. The price is one
        Python start-up per search (30 ms, 130 ms on this 2-core machine under a load of 14), small
        beside a model request.
        """
        async with self._sessions() as session:
            rows = await session.execute(
                select(ProjectFile.path, ProjectFile.content)
                .where(ProjectFile.project_id == self.project_id, ProjectFile.data.is_(None))
                .order_by(ProjectFile.path)
            )
            files = [(path, content) for path, content in rows]
        # The standard library's JSON, not orjson: a pattern from the model may hold a lone surrogate.
        request = json.dumps({"pattern": pattern, "limit": limit, "files": files}).encode()
        try:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-S",
                grep.__file__,
                str(seconds),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={},  # it needs nothing from the server's environment, least of all its API keys
            )
        except OSError as error:  # out of processes, memory or file descriptors
            raise SearchFailed(f"search could not start: {error}") from None
        try:
            async with asyncio.timeout(seconds):
                output, errors = await child.communicate(request)
        except TimeoutError:
            raise SearchFailed(
                f"search took longer than {seconds:g} s (TANDEM_LIMIT_SEARCH_SECONDS); "
                "use a simpler pattern or plain text"
            ) from None
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        if child.returncode != 0:
            lines = errors.decode(errors="replace").strip().splitlines()
            raise SearchFailed(f"search failed: {lines[-1] if lines else f'exit status {child.returncode}'}")
        return [SearchHit(path=path, line=line, text=text) for path, line, text in json.loads(output)]

    def _record(
        self, session: AsyncSession, run_id: str, path: str, before: str | None, after: str | None
    ) -> CodeChangeRow:
        kind: ChangeType = "created" if before is None else "deleted" if after is None else "modified"
        change = CodeChangeRow(
            project_id=self.project_id,
            run_id=run_id,
            path=path,
            change_type=kind,
            before=before,
            after=after,
            diff=unified_diff(path, before, after),
        )
        session.add(change)
        return change
