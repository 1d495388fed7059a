"""Gives a run's events their seq, persists them, then publishes them to the event log.

Durable before visible: a client never sees an event the database does not have, so a re-attach
after a crash resumes exactly where it left off. Events are written by group commit: while one
batch is being written the next accumulates, so a fast run costs one transaction per batch, not
per event, and an idle run's event is written and published at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.events import EVENT_TYPES, AgentInteractionData, ErrorData, EventData, envelope, sse_frame
from tandem.persistence.models import AgentInteraction, Run, RunEventRow
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
        log: EventLog,
        heartbeat_interval: float = 5.0,
    ) -> None:
        self.run_id = run_id
        self.seq = 0
        self._message_id = message_id
        self._sessions = sessions
        self._log = log
        self._heartbeat_interval = heartbeat_interval
        self._events: list[dict[str, Any]] = []
        self._interactions: list[dict[str, Any]] = []
        self._frames: list[Entry] = []
        self._pending = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"recorder-{self.run_id}")

    def emit(self, data: EventData) -> None:
        self._queue(data)
        self._pending.set()

    def interaction_id(self) -> str:
        """The id the next interaction will carry: it is named after its seq."""
        return f"{self.run_id}:{self.seq + 1}"

    def _queue(self, data: EventData) -> None:
        self.seq += 1
        seq = self.seq
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
                    "timestamp": data.timestamp,
                }
            )

    def _take(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Entry]]:
        batch = self._events, self._interactions, self._frames
        self._events, self._interactions, self._frames = [], [], []
        self._pending.clear()
        return batch

    async def _write(
        self, session: AsyncSession, events: list[dict[str, Any]], interactions: list[dict[str, Any]]
    ) -> None:
        if events:
            await session.execute(insert(RunEventRow), events)
        if interactions:
            await session.execute(insert(AgentInteraction), interactions)
        values: dict[str, Any] = {"heartbeat_at": datetime.now(UTC)}
        if events:
            values["last_seq"] = events[-1]["seq"]
        await session.execute(update(Run).where(Run.id == self.run_id).values(**values))

    async def _write_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pending.wait(), self._heartbeat_interval)
            events, interactions, frames = self._take()
            while True:
                try:
                    async with self._sessions.begin() as session:
                        await self._write(session, events, interactions)
                    break
                except Exception:
                    logger.exception("persisting events of run %s failed; retrying", self.run_id)
                    await asyncio.sleep(_RETRY_SECONDS)
            if frames:
                await self._log.append(self.run_id, frames)
            if self._closing and not self._events:
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
            async with self._sessions.begin() as session:
                self._queue(await finalize(session))
                events, interactions, frames = self._take()
                await self._write(session, events, interactions)
        except Exception:
            logger.exception("run %s could not be finalised in the database", self.run_id)
            if not frames:
                self._queue(ErrorData(message="the run could not be saved", code="internal"))
                frames = self._take()[2]
            raise
        finally:
            # Whatever happened, live streams get their terminal event and close.
            await self._log.append(self.run_id, frames, closed=True)
