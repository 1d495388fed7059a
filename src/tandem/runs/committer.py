"""Group commit across runs: the pending event batches of every run in this process go to the
database in one transaction.

A run's recorder hands over a batch and waits; while one transaction is being written the next
batches accumulate. With SQLite (one writer at a time) per-run transactions would queue on the
write lock, so latency would grow with the number of busy runs; PostgreSQL gets fewer, larger
commits too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.persistence.models import AgentInteraction, Base, Run, RunEventRow

logger = logging.getLogger(__name__)

Rows = list[dict[str, Any]]
# Core tables, not ORM entities: the ORM's bulk insert path costs more per row and buys nothing here.
EVENTS = Base.metadata.tables[RunEventRow.__tablename__]
INTERACTIONS = Base.metadata.tables[AgentInteraction.__tablename__]


class RunLost(Exception):
    """The run is no longer `running` in the database: another process ended it."""


@dataclass(frozen=True, eq=False)
class _Batch:
    run_id: str
    events: Rows
    interactions: Rows
    done: asyncio.Future[None]


async def write_batch(session: AsyncSession, run_id: str, events: Rows, interactions: Rows) -> None:
    """Renew the run's lease and insert its rows; `RunLost` (before any insert) if it is not ours."""
    values: dict[str, Any] = {"heartbeat_at": datetime.now(UTC)}
    if events:
        values["last_seq"] = events[-1]["seq"]
    # Renewing the lease first also locks the run row, and tells us whether it is still ours.
    renewed = await session.execute(update(Run).where(Run.id == run_id, Run.status == "running").values(**values))
    if renewed.rowcount == 0:  # type: ignore[attr-defined]
        raise RunLost(f"run {run_id} was ended by another process")
    if events:
        await session.execute(insert(EVENTS), events)
    if interactions:
        await session.execute(insert(INTERACTIONS), interactions)


class GroupCommitter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: list[_Batch] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def commit(self, run_id: str, events: Rows, interactions: Rows) -> None:
        """Persist one run's batch (and renew its lease); raises `RunLost` or the database's error."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._wake is None:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._loop(self._wake), name="group-commit")
        batch = _Batch(run_id, events, interactions, loop.create_future())
        self._pending.append(batch)
        self._wake.set()
        await batch.done

    async def _loop(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            batches, self._pending = self._pending, []
            lost: set[str] = set()
            try:
                async with self._sessions.begin() as session:
                    for batch in batches:
                        # A run taken over fails before writing anything, so the others go on.
                        try:
                            await write_batch(session, batch.run_id, batch.events, batch.interactions)
                        except RunLost:
                            lost.add(batch.run_id)
            except Exception as error:
                logger.warning("group commit of %d batch(es) failed: %s", len(batches), error)
                for batch in batches:
                    batch.done.set_exception(error)
                continue
            for batch in batches:
                if batch.run_id in lost:
                    batch.done.set_exception(RunLost(f"run {batch.run_id} was ended by another process"))
                else:
                    batch.done.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
