"""Gives a run's events their seq (and each interaction its id, `<run_id>:<seq>`), persists them,
then publishes them to the event log.

Durable before visible: a client never sees an event the database does not have, so a re-attach
after a crash resumes exactly where it left off. Events are written by group commit (see
`committer`): while one batch is being written the next accumulates, so a fast run costs one
transaction per batch, not per event, and an idle run's event is written and published at once.

Consecutive deltas of one agent and kind that arrive while a batch is being written become one
delta (their texts joined): the wire contract makes deltas advisory token-level text, so a client
sees the same text in fewer events, and a run that emits faster than it can be written costs rows
and frames per batch rather than per token. An idle run's deltas still go out one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.events import (
    EVENT_TYPES,
    AgentDeltaData,
    AgentInteractionData,
    ErrorData,
    EventData,
    envelope,
    sse_frame,
)
from tandem.persistence.models import Run, RunEventRow
from tandem.runs.committer import EVENTS, Batch, GroupCommitter, RunLost, write_batches
from tandem.runs.eventlog import Entry, EventLog

logger = logging.getLogger(__name__)

_RETRY_SECONDS = 0.5


class RunRecorder:
    def __init__(
        self,
        *,
        run_id: str,
        message_id: int,
        sessions: async_sessionmaker[AsyncSession],
        committer: GroupCommitter,
        log: EventLog,
        heartbeat_interval: float = 5.0,
        on_lost: Callable[[], object] = lambda: None,
        published_seq: int = 0,
    ) -> None:
        self.run_id = run_id
        self.seq = published_seq
        self._message_id = message_id
        self._sessions = sessions
        self._committer = committer
        self._log = log
        self._heartbeat_interval = heartbeat_interval
        self._events: list[dict[str, Any]] = []
        self._interactions: list[dict[str, Any]] = []
        self._frames: list[Entry] = []
        self._delta: AgentDeltaData | None = None
        self._delta_texts: list[str] = []
        self._pending = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._on_lost = on_lost
        self._published = published_seq
        self.lost = False

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"recorder-{self.run_id}")

    def emit(self, data: EventData) -> None:
        if isinstance(data, AgentDeltaData):
            delta = self._delta
            if delta is not None and _joins(delta, data):
                self._delta_texts.append(data.delta)
            else:
                self._seal_delta()
                self._delta, self._delta_texts = data, [data.delta]
        else:
            self._seal_delta()
            self._queue(data)
        self._pending.set()

    def _seal_delta(self) -> None:
        """Give the delta being merged its seq: something else follows it, or its batch is due."""
        delta = self._delta
        if delta is None:
            return
        if len(self._delta_texts) > 1:
            delta = delta.model_copy(update={"delta": "".join(self._delta_texts)})
        self._delta, self._delta_texts = None, []
        self._queue(delta)

    def _queue(self, data: EventData) -> None:
        self.seq += 1
        seq = self.seq
        if isinstance(data, AgentInteractionData):
            data = data.model_copy(update={"id": f"{self.run_id}:{seq}"})
        text = envelope(self.run_id, seq, data).model_dump_json()
        self._frames.append((seq, sse_frame(seq, text)))
        self._events.append({"run_id": self.run_id, "seq": seq, "type": EVENT_TYPES[type(data)], "payload": text})
        if isinstance(data, AgentInteractionData):
            self._interactions.append(
                {
                    "id": data.id,
                    "message_id": self._message_id,
                    "run_id": self.run_id,
                    "seq": seq,
                    "agent_name": data.agent_name,
                    "message_type": data.message_type,
                    "content": data.content,
                    "tool_name": data.tool_name,
                    "tool_arguments": data.tool_arguments,
                    "tool_call_id": data.tool_call_id,
                    "failed": data.failed,
                    "timestamp": data.timestamp,
                }
            )

    def _take(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Entry]]:
        self._seal_delta()
        batch = self._events, self._interactions, self._frames
        self._events, self._interactions, self._frames = [], [], []
        self._pending.clear()
        return batch

    async def _write_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pending.wait(), self._heartbeat_interval)
            events, interactions, frames = self._take()
            while True:
                try:
                    await self._committer.commit(Batch(self.run_id, events, interactions))
                    break
                except RunLost:
                    # Our lease lapsed (a stall, a partition) and another process interrupted the
                    # run: the database's story wins; stop the run and write nothing more.
                    logger.warning("run %s was interrupted by another process; stopping it", self.run_id)
                    self.lost = True
                    self._on_lost()
                    return
                except Exception:
                    logger.exception("persisting events of run %s failed; retrying", self.run_id)
                    await asyncio.sleep(_RETRY_SECONDS)
            if frames:
                await self._log.append(self.run_id, frames)
                self._published = frames[-1][0]
            if self._closing and not self._events and self._delta is None:
                return

    async def close(self, finalize: Callable[[AsyncSession], Awaitable[EventData]]) -> None:
        """Write what is pending, then `finalize`'s updates and the terminal event it returns in one
        transaction, then publish that event: a client that sees it finds the history complete."""
        self._closing = True
        self._pending.set()
        if self._writer is not None:
            await self._writer
        frames: list[Entry] = []
        try:
            if not self.lost:
                async with self._sessions.begin() as session:
                    pending, interactions, taken = self._take()
                    # Renews (checks) the lease before the terminal event is written.
                    if await write_batches(session, [Batch(self.run_id, pending, interactions)]):
                        raise RunLost(self.run_id)
                    self._queue(await finalize(session))
                    events, _, final = self._take()
                    await session.execute(insert(EVENTS), events)
                    await session.execute(update(Run).where(Run.id == self.run_id).values(last_seq=self.seq))
                frames = taken + final
        except RunLost:
            self.lost = True
        except Exception:
            logger.exception("run %s could not be finalised in the database", self.run_id)
            if not frames:
                self._queue(ErrorData(message="the run could not be saved", code="internal"))
                frames = self._take()[2]
            raise
        finally:
            if self.lost:
                # This process's viewers saw what it published; the database has the rest and the end.
                await publish_persisted(self._sessions, self._log, self.run_id, after=self._published)
            else:
                # Whatever happened, live streams get their terminal event and close.
                await self._log.append(self.run_id, frames, closed=True)


async def publish_persisted(
    sessions: async_sessionmaker[AsyncSession], log: EventLog, run_id: str, *, after: int
) -> None:
    """Publish a run's persisted events after seq `after` and close its log: how streams of a run
    ended by another process (or by a dead one) get the rest and the terminal event."""
    async with sessions() as session:
        rows = list(
            await session.execute(
                select(RunEventRow.seq, RunEventRow.payload)
                .where(RunEventRow.run_id == run_id, RunEventRow.seq > after)
                .order_by(RunEventRow.seq)
            )
        )
    await log.append(run_id, [(row.seq, sse_frame(row.seq, row.payload)) for row in rows], closed=True)


def _joins(delta: AgentDeltaData, data: AgentDeltaData) -> bool:
    return (delta.agent_name, delta.message_type, delta.tool_call_id) == (
        data.agent_name,
        data.message_type,
        data.tool_call_id,
    )
