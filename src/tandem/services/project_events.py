"""Telling clients that a project's files changed, whoever changed them.

Every change to a project's files (the files API, an agent's write, a revert, a restore, a command's
results), in this process or in any other sharing the database, moves `projects.updated_at` in its
own transaction (`workspace.files.touch_project`). So one task per process reads that column for the
projects its clients follow, every `TANDEM_PROJECT_EVENTS_POLL_SECONDS`, in one query for all of them:
no writer has to remember to announce its change; servers sharing a SQLite file learn of each
other's changes as PostgreSQL + Redis ones do; and a lost notification cannot happen, for the poll
compares states, not messages. Nobody following, no task and no query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.events import PING_FRAME, ProjectEvent, ProjectStateData, sse_frame
from tandem.persistence.models import Project

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class _Watched:
    stamp: datetime | None
    """The project's `updated_at`; None once it is deleted."""
    version: int = 0
    followers: int = 0
    waiter: asyncio.Future[None] | None = field(default=None, repr=False)

    def update(self, stamp: datetime | None) -> None:
        if stamp == self.stamp:
            return
        self.stamp = stamp
        self.version += 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        self.waiter = None


class Follower:
    """One client's view of a followed project: which changes it has been told of."""

    def __init__(self, watched: _Watched) -> None:
        self._watched = watched
        self._seen = watched.version

    @property
    def stamp(self) -> datetime | None:
        return self._watched.stamp

    async def changed(self, *, timeout: float) -> bool:
        """Whether the project changed since the last call, waiting up to `timeout` for it to."""
        watched = self._watched
        if watched.version == self._seen:
            if watched.waiter is None:
                watched.waiter = asyncio.get_running_loop().create_future()
            # As in the event log: `wait`, so one follower's timeout never cancels the shared waiter.
            await asyncio.wait((watched.waiter,), timeout=timeout)
        if watched.version == self._seen:
            return False
        self._seen = watched.version
        return True


class ProjectWatch:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, interval: float) -> None:
        self._sessions = sessions
        self._interval = interval
        self._watched: dict[int, _Watched] = {}
        self._poller: asyncio.Task[None] | None = None

    @property
    def followed(self) -> int:
        """How many projects some client follows here."""
        return len(self._watched)

    @property
    def polling(self) -> bool:
        return self._poller is not None

    async def _stamps(self, project_ids: list[int]) -> dict[int, datetime]:
        async with self._sessions() as session:
            rows = await session.execute(select(Project.id, Project.updated_at).where(Project.id.in_(project_ids)))
            return {project_id: stamp for project_id, stamp in rows}

    @contextlib.asynccontextmanager
    async def follow(self, project_id: int) -> AsyncIterator[Follower]:
        """Follow a project (the caller has checked that the user may read it) for as long as the block lasts."""
        watched = self._watched.get(project_id)
        if watched is None:
            stamp = (await self._stamps([project_id])).get(project_id)
            watched = self._watched.setdefault(project_id, _Watched(stamp=stamp))
        watched.followers += 1
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="project-watch")
        try:
            yield Follower(watched)
        finally:
            watched.followers -= 1
            if watched.followers == 0 and self._watched.get(project_id) is watched:
                del self._watched[project_id]

    async def stream(self, project_id: int, *, ping_seconds: float) -> AsyncIterator[bytes]:
        """The project's SSE frames: `watching` once its state is read (a change after that event is never
        missed), `files_changed` after each change, `: ping` while idle, `project_deleted` to end."""
        async with self.follow(project_id) as follower:
            seq = 1
            yield _frame(seq, "watching" if follower.stamp is not None else "project_deleted", project_id, follower)
            while follower.stamp is not None:
                if await follower.changed(timeout=ping_seconds):
                    seq += 1
                    kind: ProjectEventType = "files_changed" if follower.stamp is not None else "project_deleted"
                    yield _frame(seq, kind, project_id, follower)
                else:
                    yield PING_FRAME

    async def _poll(self) -> None:
        try:
            while self._watched:
                await asyncio.sleep(self._interval)
                project_ids = list(self._watched)
                if not project_ids:
                    break
                try:
                    stamps = await self._stamps(project_ids)
                except (SQLAlchemyError, OSError) as error:  # the database is away a moment: the next poll tells
                    logger.warning("looking for changed projects failed: %s", error)
                    continue
                for project_id in project_ids:
                    if (watched := self._watched.get(project_id)) is not None:
                        watched.update(stamps.get(project_id))
        finally:
            # No `await` between the emptiness check and here: a follower arriving meanwhile starts a new poller.
            self._poller = None

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller


ProjectEventType = Literal["watching", "files_changed", "project_deleted"]


def _frame(seq: int, kind: ProjectEventType, project_id: int, follower: Follower) -> bytes:
    data = ProjectStateData(project_id=project_id, updated_at=follower.stamp)
    return sse_frame(seq, ProjectEvent(type=kind, seq=seq, data=data).model_dump_json())
