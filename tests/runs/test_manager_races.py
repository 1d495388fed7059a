"""Starts racing each other in several processes, on PostgreSQL: SQLite runs one write transaction
at a time, so only PostgreSQL can interleave them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.runs.eventlog import InProcessEventLog
from tandem.runs.manager import RunManager
from tandem.services.accounts import LOCAL
from tandem.workspace.files import FileLimits
from tests.playbook import Playbook
from tests.runs.conftest import Script, SharedCancelBus, new_project


@pytest.mark.parametrize("sessions", ["postgres"], indirect=True)
async def test_two_processes_cannot_both_take_a_users_last_run_slot(
    sessions: async_sessionmaker[AsyncSession], script: Script, bus: SharedCancelBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each start's transaction is held open before its commit until the other start waits on a
    lock or is also about to commit: without the user's row lock both count no run and both start."""
    first, second = [await new_project(sessions, name) for name in ("race a", "race b")]
    script.planner = Playbook([None, None])
    managers = [
        RunManager(
            sessions=sessions,
            log=InProcessEventLog(retention=60),
            cancel_bus=bus,
            team_factory=script.team,
            file_limits=FileLimits(max_file_bytes=1000, max_files=10, max_project_bytes=10_000),
            max_message_chars=100,
            ping_seconds=30,
            heartbeat_seconds=30,
            lease_seconds=3600,
            max_runs_per_user=1,
        )
        for _ in range(2)
    ]
    begin = sessions.begin
    at_commit = 0

    @contextlib.asynccontextmanager
    async def held_until_the_other_waits() -> AsyncIterator[AsyncSession]:
        nonlocal at_commit
        async with begin() as session:
            yield session
            at_commit += 1
            async with sessions() as observer:
                for _ in range(1000):
                    if at_commit == 2 or await observer.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                        break
                    await asyncio.sleep(0.01)

    monkeypatch.setattr(sessions, "begin", held_until_the_other_waits)
    try:
        outcomes = await asyncio.gather(
            managers[0].start(first, "one", session_id=None, user_id=LOCAL.id),
            managers[1].start(second, "two", session_id=None, user_id=LOCAL.id),
            return_exceptions=True,
        )
        assert sorted(type(outcome).__name__ for outcome in outcomes) == ["RateLimited", "RunStarted"]
    finally:
        monkeypatch.undo()
        for manager in managers:
            await manager.shutdown()
