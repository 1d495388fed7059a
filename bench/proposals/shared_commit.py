"""Prototype, for measuring only: one group commit per process instead of one per run.

    BENCH_SERVER=bench/proposals/shared_commit.py uv run python -m bench --quick --only latency

Today every run's `RunRecorder` commits its own batches. With SQLite (one writer at a time) N busy
runs mean N transactions queueing on the write lock (SQLite's busy handler sleeps 1…100 ms between
retries), so latency under load explodes. Here every recorder hands its batch to one writer task
that commits all pending batches of all runs in one transaction, then releases them. It keeps the
recorder's order (persist, then publish) but skips its lease check (`RunLost`): a measurement aid,
not the fix itself — see bench/README.md for the proposal.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.cli import main
from tandem.persistence.models import AgentInteraction, Run, RunEventRow
from tandem.runs import recorder

Rows = list[dict[str, Any]]


class SharedCommit:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: list[tuple[str, Rows, Rows, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop())

    def submit(self, run_id: str, events: Rows, interactions: Rows) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((run_id, events, interactions, done))
        self._wake.set()
        return done

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            try:
                async with self._sessions.begin() as session:
                    await self._write(session, batch)
            except Exception as error:
                for *_, done in batch:
                    done.set_exception(error)
            else:
                for *_, done in batch:
                    done.set_result(None)

    @staticmethod
    async def _write(session: AsyncSession, batch: list[tuple[str, Rows, Rows, asyncio.Future[None]]]) -> None:
        events = [row for _, rows, _, _ in batch for row in rows]
        interactions = [row for _, _, rows, _ in batch for row in rows]
        if events:
            await session.execute(insert(RunEventRow), events)
        if interactions:
            await session.execute(insert(AgentInteraction), interactions)
        now = datetime.now(UTC)
        for run_id, rows, _, _ in batch:
            values: dict[str, Any] = {"heartbeat_at": now}
            if rows:
                values["last_seq"] = rows[-1]["seq"]
            await session.execute(update(Run).where(Run.id == run_id).values(**values))


_shared: dict[int, SharedCommit] = {}


async def _write_loop(self: Any) -> None:
    shared = _shared.get(id(self._sessions)) or _shared.setdefault(id(self._sessions), SharedCommit(self._sessions))
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pending.wait(), self._heartbeat_interval)
        events, interactions, frames = self._take()
        await shared.submit(self.run_id, events, interactions)
        if frames:
            await self._log.append(self.run_id, frames)
            self._published = frames[-1][0]
        if self._closing and not self._events:
            return


if __name__ == "__main__":
    recorder.RunRecorder._write_loop = _write_loop  # type: ignore[method-assign]
    sys.argv[0] = "tandem"
    main()
