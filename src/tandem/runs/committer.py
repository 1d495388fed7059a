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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.persistence.models import AgentInteraction, Base, Run, RunEventRow

logger = logging.getLogger(__name__)

Rows = list[dict[str, Any]]
# Core tables, not ORM entities: the ORM's bulk insert path costs more per row and buys nothing here.
EVENTS = Base.metadata.tables[RunEventRow.__tablename__]
INTERACTIONS = Base.metadata.tables[AgentInteraction.__tablename__]
RUNS = Base.metadata.tables[Run.__tablename__]
# One statement, executed once per run: a batch without events renews the lease and keeps `last_seq`.
_RENEW = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run"))
    .values(
        last_seq=func.coalesce(bindparam("seq", type_=RUNS.c.last_seq.type), RUNS.c.last_seq),
        heartbeat_at=bindparam("now"),
    )
)


class RunLost(Exception):
    """The run is no longer `running` in the database: another process ended it."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was ended by another process")


@dataclass(frozen=True)
class Batch:
    """One run's rows to write, and the renewal of its lease."""

    run_id: str
    events: Rows
    interactions: Rows


async def write_batches(session: AsyncSession, batches: Sequence[Batch]) -> set[str]:
    """Renew the leases of the batches' runs and insert their rows, in as many statements whatever
    the number of runs; returns the runs no longer ours (ended by another process), whose rows are
    not written.

    Per-run statements would make a commit's length grow with the number of busy runs: every
    statement is a round trip (a thread hop with aiosqlite) that waits its turn in a busy event loop.
    """
    ids = sorted({batch.run_id for batch in batches})
    # Locks the run rows (PostgreSQL; SQLite's BEGIN IMMEDIATE holds the whole database) in id
    # order, so two processes renewing overlapping runs cannot deadlock.
    live = set(
        await session.scalars(
            select(RUNS.c.id)
            .where(RUNS.c.id.in_(ids), RUNS.c.status == "running")
            .order_by(RUNS.c.id)
            .with_for_update()
        )
    )
    kept = [batch for batch in batches if batch.run_id in live]
    if kept:
        now = datetime.now(UTC)
        await session.execute(
            _RENEW,
            [{"run": b.run_id, "seq": b.events[-1]["seq"] if b.events else None, "now": now} for b in kept],
        )
    events = [row for batch in kept for row in batch.events]
    if events:
        await session.execute(insert(EVENTS), events)
    interactions = [row for batch in kept for row in batch.interactions]
    if interactions:
        await session.execute(insert(INTERACTIONS), interactions)
    return set(ids) - live


class CommitAborted(Exception):
    """The commit loop stopped (shut down, or crashed and restarted) before writing the batch."""


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    # A caller that was cancelled while waiting leaves its future cancelled: its batch is written
    # all the same (it was already taken), but there is nobody left to tell.
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class GroupCommitter:
    """Writes the batches handed to `commit` by one loop task, several runs' batches per transaction.

    The loop serves every run of the process, so nothing a caller does may stop it: a caller
    cancelled mid-commit only stops waiting, and a loop that dies anyway is logged, fails its
    waiters (so none hangs) and is restarted by the next commit.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: list[tuple[Batch, asyncio.Future[None]]] = []
        self._writing: list[tuple[Batch, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def commit(self, batch: Batch) -> None:
        """Persist one run's batch (and renew its lease); raises `RunLost`, `CommitAborted` or the
        database's error."""
        if self._closing:
            raise CommitAborted("the server is shutting down")
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="group-commit")
            self._task.add_done_callback(self._stopped)
        done = asyncio.get_running_loop().create_future()
        self._pending.append((batch, done))
        self._wake.set()
        await done

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._writing, self._pending = self._pending, []
            try:
                async with self._sessions.begin() as session:
                    # A run taken over gets nothing written, so the others go on.
                    lost = await write_batches(session, [batch for batch, _ in self._writing])
            except Exception as error:
                logger.warning("group commit of %d batch(es) failed: %s", len(self._writing), error)
                for _, done in self._writing:
                    _settle(done, error)
            else:
                for batch, done in self._writing:
                    _settle(done, RunLost(batch.run_id) if batch.run_id in lost else None)
            self._writing = []

    def _stopped(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not self._closing:
            crash = None if task.cancelled() else task.exception()
            logger.error("the group commit loop stopped; the next commit restarts it", exc_info=crash)
        error = CommitAborted("the group commit loop stopped before writing this batch")
        waiting, self._writing, self._pending = [*self._writing, *self._pending], [], []
        for _, done in waiting:
            _settle(done, error)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            task = self._task
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
