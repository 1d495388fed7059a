"""Creating a project from existing code: a Git repository, an uploaded archive, a server folder.

An import is a job (`ImportJob` row): it is started, polled and cancelled by id from any process.
The files are picked and checked first (in a scratch folder, `tandem.workspace.importing`), then
the project and all its files are inserted in ONE transaction, so a refused, failed or cancelled
import leaves no project and no file behind; the scratch folder is removed whatever happens.

Progress: the process doing the work keeps it in memory (what its polls answer) and writes it to
the job row twice a second, except while the final transaction runs (on SQLite that transaction
holds the write lock); other processes then see the phase `storing` until the job ends. A cancel
sets the job's `stop` event at once when the job runs here, else the row's `cancel_requested`
flag, which the working process reads twice a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Cancelled, Conflict, Forbidden, NotFound, RateLimited, TandemError
from tandem.persistence.database import get_or_404
from tandem.persistence.models import ImportJob, Project, ProjectFile, User
from tandem.services import audit, projects
from tandem.services.principal import Principal
from tandem.services.projects import ProjectLimits
from tandem.workspace import git_history, importing
from tandem.workspace.files import FileLimits
from tandem.workspace.importing import Picked, Progress

logger = logging.getLogger(__name__)

_TICK = 0.5
IMPORTS_RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True, kw_only=True)
class GitSource:
    url: str
    ref: str | None = None
    """A branch or tag; the remote's default branch if None."""
    depth: int | None = 1
    """Commits to fetch; None for the whole history."""


@dataclass(frozen=True, kw_only=True)
class ArchiveSource:
    path: Path
    """A zip or tar.gz inside the job's scratch folder."""


@dataclass(frozen=True, kw_only=True)
class FolderSource:
    path: Path


Source = GitSource | ArchiveSource | FolderSource


def _described(source: Source) -> str:
    if isinstance(source, GitSource):
        return importing.public_url(source.url) + (f" ({source.ref})" if source.ref else "")
    return "an archive" if isinstance(source, ArchiveSource) else "a folder"


def source_kind(source: Source) -> str:
    return {GitSource: "git", ArchiveSource: "archive", FolderSource: "folder"}[type(source)]


@dataclass(frozen=True, kw_only=True)
class ImportStatus:
    id: str
    name: str
    source: str
    status: str
    """running, completed, failed or cancelled"""
    phase: str
    files_done: int
    files_total: int | None
    bytes_done: int
    project_id: int | None
    skipped: int
    binary_files: int
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class Imported:
    project: Project
    files: int
    binary_files: int
    skipped: int


@dataclass(kw_only=True)
class LiveImport:
    """An import running in this process: its progress, and the event that stops it."""

    progress: Progress = field(default_factory=lambda: Progress(phase="queued"))
    stop: threading.Event = field(default_factory=threading.Event)
    storing: bool = False


def _status(row: ImportJob, live: LiveImport | None) -> ImportStatus:
    progress = live.progress if live is not None and row.status == "running" else None
    return ImportStatus(
        id=row.id,
        name=row.name,
        source=row.source,
        status=row.status,
        phase=progress.phase if progress else row.phase,
        files_done=progress.files_done if progress else row.files_done,
        files_total=progress.files_total if progress else row.files_total,
        bytes_done=progress.bytes_done if progress else row.bytes_done,
        project_id=row.project_id,
        skipped=row.skipped,
        binary_files=row.binary_files,
        error_code=row.error_code,
        error_message=row.error_message,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _text(data: bytes) -> str | None:
    """The file's text, or None when it is binary: a NUL byte (which no database text column takes)
    or bytes that are not UTF-8."""
    if b"\0" in data:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True, kw_only=True)
class ImportPolicy:
    """What imports may do, and how much of it one user may."""

    files: FileLimits
    projects: ProjectLimits
    git_protocols: list[str]
    git_internal_hosts: bool
    """Every user may clone from internal addresses, not only admins."""
    max_per_user: int
    """At once (TANDEM_MAX_IMPORTS_PER_USER)."""
    per_minute: int
    """Started by one user (TANDEM_IMPORTS_PER_MINUTE)."""


class Importer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: ImportPolicy,
        scratch_root: Path,
        lease_seconds: float | None,
    ) -> None:
        """`lease_seconds`: None when this is the only process on its database (every job found
        running at `begin` is then a dead process's); else how long a job's heartbeat may lapse."""
        self._sessions = sessions
        self._policy = policy
        self._limits = policy.files
        self._protocols = policy.git_protocols
        self._lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._scratch = importing.ScratchSpace(scratch_root, self.owner)
        self._live: dict[str, LiveImport] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._monitor: asyncio.Task[None] | None = None

    def scratch(self) -> Path:
        """A new private folder for one import; `run` and `start` remove it when they are done."""
        return self._scratch.new()

    async def _check(self, owner: Principal, source: Source) -> list[str]:
        """Refuse a source that cannot work or that `owner` may not read; for a Git URL, the `git -c`
        options that pin its host to the addresses checked."""
        if not isinstance(source, GitSource):
            return []
        importing.check_git_url(source.url, self._protocols)
        return await importing.resolve_git_host(
            source.url, allow_internal=owner.is_admin or self._policy.git_internal_hosts
        )

    async def _admit(self, session: AsyncSession, owner: Principal) -> None:
        """Refuse an import past the owner's limits. Their row's lock serialises their starts across
        processes, so two cannot both see one free place."""
        await session.get(User, owner.id, with_for_update={"key_share": True})
        going = await session.scalar(
            select(func.count())
            .select_from(ImportJob)
            .where(ImportJob.user_id == owner.id, ImportJob.status == "running")
        )
        if going is not None and going >= self._policy.max_per_user:
            raise RateLimited(
                f"you have {going} imports going; the limit is {self._policy.max_per_user} at once "
                "(TANDEM_MAX_IMPORTS_PER_USER): wait for one to end or cancel it",
                retry_after=IMPORTS_RETRY_AFTER_SECONDS,
            )
        await audit.throttle(
            session,
            action="project.import",
            limit=self._policy.per_minute,
            setting="TANDEM_IMPORTS_PER_MINUTE",
            what="imports",
            user_id=owner.id,
        )

    async def run(
        self, owner: Principal, name: str, source: Source, scratch: Path, *, live: LiveImport | None = None
    ) -> Imported:
        """Import now, as a project of `owner`; the scratch folder is removed whatever happens."""
        live = live or LiveImport()
        try:
            pinned = await self._check(owner, source)

            def report(progress: Progress) -> None:
                live.progress = progress

            picked, skipped, files = await self._pick(source, pinned, scratch, live.stop, report)
            return await self._store(owner, name, source, picked, skipped, files, live)
        finally:
            await asyncio.to_thread(importing.remove_scratch, scratch)

    async def _pick(
        self,
        source: Source,
        pinned: list[str],
        scratch: Path,
        stop: threading.Event,
        report: importing.ProgressSink,
    ) -> tuple[list[Picked], int, AsyncGenerator[list[tuple[str, bytes]]]]:
        if isinstance(source, GitSource):
            repository = importing.GitRepository(scratch, protocols=self._protocols)
            await repository.clone(
                source.url,
                ref=source.ref,
                depth=source.depth,
                limits=self._limits,
                stop=stop,
                progress=report,
                pinned=pinned,
            )
            report(Progress(phase="listing"))
            picked, skipped = await repository.pick(self._limits)
            return picked, skipped, repository.read(picked)
        folder = source.path
        if isinstance(source, ArchiveSource):
            report(Progress(phase="unpacking"))
            folder = scratch / "files"
            folder.mkdir()
            await asyncio.to_thread(importing.unpack, source.path, folder, self._limits, stop)
        elif not folder.is_dir():
            raise NotFound(f"folder {folder} does not exist")
        report(Progress(phase="listing"))
        picked, skipped = await importing.pick_folder(folder, scratch, self._limits, protocols=self._protocols)
        return picked, skipped, importing.read_folder(picked)

    async def _store(
        self,
        owner: Principal,
        name: str,
        source: Source,
        picked: list[Picked],
        skipped: int,
        files: AsyncGenerator[list[tuple[str, bytes]]],
        live: LiveImport,
    ) -> Imported:
        total = len(picked)
        progress = Progress(phase="storing", files_total=total)
        live.progress = progress
        live.storing = True
        budget = importing.Budget(self._limits, live.stop)
        binary = 0
        async with contextlib.aclosing(files), self._sessions.begin() as session:
            project = await projects.add(
                session, owner, name, f"import:{source_kind(source)}", limits=self._policy.projects
            )
            async for batch in files:
                budget.check_stop()
                rows = []
                for path, data in batch:
                    # Checked again on the bytes read: a folder's file may have grown since it was listed.
                    budget.add_file(path)
                    budget.add_bytes(path, len(data), len(data))
                    text = _text(data)
                    binary += text is None
                    rows.append(
                        {
                            "project_id": project.id,
                            "path": path,
                            "content": text if text is not None else "",
                            "data": data if text is None else None,
                            "size": len(data),
                        }
                    )
                await session.execute(insert(ProjectFile), rows)
                progress = replace(progress, files_done=progress.files_done + len(rows), bytes_done=budget.bytes)
                live.progress = progress
            budget.check_stop()
            # The history starts at the imported files, not at whatever is edited before it is first
            # read: a later pull merges the source's new commits as changes since these.
            await git_history.commit(
                session,
                project.id,
                kind="initial",
                message=f"Imported from {_described(source)}",
                author=git_history.EDITOR,
            )
        return Imported(project=project, files=total, binary_files=binary, skipped=skipped)

    async def start(self, owner: Principal, name: str, source: Source, scratch: Path) -> ImportStatus:
        """Create the job and run it in the background; poll it with `get`."""
        try:
            await self._check(owner, source)  # refused now, not as a failed job; checked again by `run`
            if isinstance(source, GitSource) and urlsplit(source.url).scheme == "file" and not owner.is_admin:
                # The server's own disk (other people's checkouts, its own code): not for every user.
                raise Forbidden("a file:// repository is on the server's own disk: only an admin may import one")
            job_id = str(uuid.uuid4())
            async with self._sessions.begin() as session:
                await self._admit(session, owner)
                row = ImportJob(
                    id=job_id,
                    name=name,
                    source=source_kind(source),
                    user_id=owner.id,
                    owner=self.owner,
                    heartbeat_at=datetime.now(UTC),
                )
                session.add(row)
                await session.flush()
                await audit.record(session, owner, "project.import", f"import {job_id} ({row.source}: {name})")
        except BaseException:
            await asyncio.to_thread(importing.remove_scratch, scratch)
            raise
        live = LiveImport()
        self._live[job_id] = live
        task = asyncio.create_task(self._job(job_id, owner, name, source, scratch, live))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _status(row, live)

    async def upload(self, owner: Principal, name: str, chunks: AsyncIterator[bytes]) -> ImportStatus:
        """Receive an archive to disk, a chunk at a time, and import it in the background."""
        async with self._sessions.begin() as session:  # before the body is read; `start` checks again
            await self._admit(session, owner)
        scratch = await asyncio.to_thread(self.scratch)
        path = scratch / "upload"
        try:
            # Chunks are small (64 KB): a write to the page cache does not stall the loop.
            with path.open("wb") as file:
                async for chunk in chunks:
                    file.write(chunk)
        except BaseException:
            await asyncio.to_thread(importing.remove_scratch, scratch)
            raise
        return await self.start(owner, name, ArchiveSource(path=path), scratch)

    async def _job(
        self, job_id: str, owner: Principal, name: str, source: Source, scratch: Path, live: LiveImport
    ) -> None:
        watcher = asyncio.create_task(self._watch(job_id, live))
        values: dict[str, object]
        try:
            imported = await self.run(owner, name, source, scratch, live=live)
            values = {
                "status": "completed",
                "phase": "done",
                "project_id": imported.project.id,
                "files_done": imported.files,
                "files_total": imported.files,
                "skipped": imported.skipped,
                "binary_files": imported.binary_files,
            }
        except Cancelled as error:
            values = {"status": "cancelled", "error_code": error.code, "error_message": error.message}
        except TandemError as error:
            values = {"status": "failed", "error_code": error.code, "error_message": error.message}
        except Exception:
            logger.exception("import %s failed", job_id)
            values = {
                "status": "failed",
                "error_code": "internal",
                "error_message": "internal error; see the server log",
            }
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        progress = live.progress
        values.setdefault("bytes_done", progress.bytes_done)
        try:
            async with self._sessions.begin() as session:
                await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))
        finally:
            self._live.pop(job_id, None)

    async def _watch(self, job_id: str, live: LiveImport) -> None:
        """Publish progress to the job row and pick up a cancel made in another process."""
        while True:
            await asyncio.sleep(_TICK)
            if live.storing and self._lease_seconds is None:
                # The final transaction holds SQLite's write lock: poll only. (One process: no lease to renew.)
                async with self._sessions() as session:
                    row = await session.get(ImportJob, job_id)
                    if row is not None and row.cancel_requested:
                        live.stop.set()
                continue
            progress = live.progress
            async with self._sessions.begin() as session:
                row = await session.get(ImportJob, job_id, with_for_update=True)
                if row is None:
                    return
                if row.cancel_requested:
                    live.stop.set()
                row.heartbeat_at = datetime.now(UTC)
                row.phase = progress.phase
                row.files_done = progress.files_done
                row.files_total = progress.files_total
                row.bytes_done = progress.bytes_done

    async def get(self, user: Principal, job_id: str) -> ImportStatus:
        async with self._sessions() as session:
            return _status(await _owned(session, user, job_id), self._live.get(job_id))

    async def cancel(self, user: Principal, job_id: str) -> ImportStatus:
        """Ask the import to stop; it ends `cancelled` (poll it) unless it finished first."""
        async with self._sessions.begin() as session:
            row = await _owned(session, user, job_id, for_update=True)
            live = self._live.get(job_id)
            if live is not None:
                live.stop.set()
                return _status(row, live)
            if row.status != "running":
                raise Conflict(f"import {job_id} is already {row.status}")
            row.cancel_requested = True
            await session.flush()
            return _status(row, None)

    async def begin(self) -> None:
        """Clean up after imports whose process died: their scratch folders, and their jobs (failed).

        Without a lease (one process) every `running` job is from a dead process; with one (several
        processes), only jobs whose heartbeat lapsed are, checked every lease/2 seconds."""
        reaped = await asyncio.to_thread(self._scratch.reap)
        if reaped:
            logger.info("removed %d scratch folders of imports interrupted by a process that died", reaped)
        if self._lease_seconds is None:
            await self.fail_stale(None)
        else:
            self._monitor = asyncio.create_task(self._watch_leases(self._lease_seconds), name="import-leases")

    async def _watch_leases(self, lease: float) -> None:
        while True:
            try:
                await self.fail_stale(lease)
            except Exception:
                logger.exception("checking import leases failed")
            await asyncio.sleep(lease / 2)

    async def fail_stale(self, lease: float | None) -> int:
        """Mark jobs whose process died as failed; returns how many. Their transaction never
        committed, so they left no project."""
        condition = ImportJob.status == "running"
        if lease is not None:
            cutoff = datetime.now(UTC) - timedelta(seconds=lease)
            lapsed = or_(ImportJob.heartbeat_at.is_(None), ImportJob.heartbeat_at < cutoff)
            condition = condition & lapsed & or_(ImportJob.owner.is_(None), ImportJob.owner != self.owner)
        async with self._sessions.begin() as session:
            failed = await session.scalars(
                update(ImportJob)
                .where(condition)
                .values(
                    status="failed",
                    error_code="interrupted",
                    error_message="the server doing this import stopped before it finished; nothing was kept: "
                    "start the import again",
                )
                .returning(ImportJob.id)
            )
            return len(failed.all())

    async def shutdown(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
        for live in self._live.values():
            live.stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._scratch.release)


async def _owned(session: AsyncSession, user: Principal, job_id: str, *, for_update: bool = False) -> ImportJob:
    """The import, if `user` started it: another user's is as absent as one that never was."""
    return await get_or_404(
        session,
        ImportJob,
        job_id,
        f"import {job_id}",
        belongs=lambda found: found.user_id == user.id,
        with_for_update=for_update,
    )
