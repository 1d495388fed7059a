"""A run starting while its project or session is being deleted finds it gone (404), instead of
being created and then swept away with it mid-run. Only PostgreSQL can interleave the two: on
SQLite every write transaction waits its turn from BEGIN."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.team import Team
from tandem.errors import NotFound
from tandem.persistence.models import ChatSession
from tandem.runs.cancellation import LocalCancelBus
from tandem.runs.eventlog import InProcessEventLog
from tandem.runs.manager import RunManager
from tandem.services import history, projects
from tandem.services.accounts import LOCAL
from tandem.workspace.files import FileLimits
from tests.support import UNLIMITED_PROJECTS


async def no_team() -> Team:
    raise AssertionError("no run may start")


@pytest.fixture
def manager(sessions: async_sessionmaker[AsyncSession]) -> RunManager:
    return RunManager(
        sessions=sessions,
        log=InProcessEventLog(retention=0),
        cancel_bus=LocalCancelBus(),
        team_factory=no_team,
        file_limits=FileLimits(max_file_bytes=1000, max_files=100, max_project_bytes=100_000),
        max_message_chars=1000,
        ping_seconds=1,
        heartbeat_seconds=1,
        lease_seconds=None,
    )


async def project_with_session(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions.begin() as session:
        project = await projects.create(session, LOCAL, "races", "blank", limits=UNLIMITED_PROJECTS)
        chat = ChatSession(project_id=project.id, title="t")
        session.add(chat)
        await session.flush()
        return project.id, chat.id


async def start_while_deleting(
    sessions: async_sessionmaker[AsyncSession],
    delete: Callable[[AsyncSession], Awaitable[None]],
    start: Callable[[], Awaitable[object]],
) -> asyncio.Task[object]:
    """Delete in a transaction, start a run while it is uncommitted, then commit the delete."""
    async with sessions.begin() as session:
        await delete(session)
        starting = asyncio.ensure_future(start())
        async with sessions() as observer:
            for _ in range(500):
                waiting = await observer.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
                if waiting or starting.done():
                    break
                await asyncio.sleep(0.01)
        assert waiting, "the start waits for the delete to commit"
    return starting


@pytest.mark.parametrize("sessions", ["postgres"], indirect=True)
@pytest.mark.parametrize("deleted", ["project", "session"])
async def test_a_run_starting_in_a_project_or_session_being_deleted_finds_it_gone(
    sessions: async_sessionmaker[AsyncSession], manager: RunManager, deleted: str
) -> None:
    project_id, session_id = await project_with_session(sessions)

    async def delete(session: AsyncSession) -> None:
        if deleted == "project":
            await projects.delete_owned(session, LOCAL, project_id)
        else:
            await history.delete_session(session, LOCAL, session_id)

    starting = await start_while_deleting(
        sessions,
        delete,
        lambda: manager.start(project_id, "hi", session_id=None if deleted == "project" else session_id),
    )
    with pytest.raises(NotFound):
        await starting
