"""Gives a run's events their seq, publishes them to the event log at once, and persists them in
batches, so the stream never waits for the database and the database never sees one row at a time."""

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
from tandem.runs.eventlog import InProcessEventLog

logger = logging.getLogger(__name__)


class RunRecorder:
    def __init__(
        self,
        *,
        run_id: str,
        message_id: int,
        sessions: async_sessionmaker[AsyncSession],
        log: InProcessEventLog,
        flush_interval: float = 0.05,
        heartbeat_interval: float = 5.0,
    ) -> None:
        self.run_id = run_id
        self.seq = 0
        self._message_id = message_id
        self._sessions = sessions
        self._log = log
        self._flush_interval = flush_interval
        self._heartbeat_interval = heartbeat_interval
        self._events: list[dict[str, Any]] = []
        self._interactions: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name=f"recorder-{self.run_id}")

    def encode(self, data: EventData) -> tuple[int, str, bytes]:
        self.seq += 1
        text = envelope(self.run_id, self.seq, data).model_dump_json()
        return self.seq, text, sse_frame(self.seq, text)

    async def emit(self, data: EventData) -> None:
        seq, text, frame = self.encode(data)
        await self._log.append(self.run_id, [frame])
        self._queue(seq, data, text)

    def interaction_id(self) -> str:
        """The id the next interaction will carry: it is named after its seq."""
        return f"{self.run_id}:{self.seq + 1}"

    def _queue(self, seq: int, data: EventData, text: str) -> None:
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

    async def flush(self, session: AsyncSession | None = None) -> None:
        async with self._lock:
            events, self._events = self._events, []
            interactions, self._interactions = self._interactions, []
            if session is not None:
                await self._write(session, events, interactions)
                return
            try:
                async with self._sessions.begin() as own:
                    await self._write(own, events, interactions)
            except Exception:
                # Put them back in front: the next flush retries, and `finish` fails loudly.
                self._events[:0], self._interactions[:0] = events, interactions
                raise

    async def _write(
        self, session: AsyncSession, events: list[dict[str, Any]], interactions: list[dict[str, Any]]
    ) -> None:
        if events:
            await session.execute(insert(RunEventRow), events)
        if interactions:
            await session.execute(insert(AgentInteraction), interactions)
        await session.execute(
            update(Run)
            .where(Run.id == self.run_id)
            .values(last_seq=events[-1]["seq"] if events else Run.last_seq, heartbeat_at=datetime.now(UTC))
        )

    async def _flush_loop(self) -> None:
        # Never cancelled mid-flush (a half-done batch would be lost): `close` sets `_closing`.
        idle = 0.0
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self._flush_interval)
            idle += self._flush_interval
            if self._events or idle >= self._heartbeat_interval:
                idle = 0.0
                try:
                    await self.flush()
                except Exception:
                    logger.exception("persisting events of run %s failed; will retry", self.run_id)

    async def close(self, finalize: Callable[[AsyncSession], Awaitable[EventData]]) -> None:
        """Persist everything, `finalize`'s updates and the terminal event it returns in one
        transaction, then publish that event: a client that sees it finds the history complete."""
        self._closing.set()
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        frame = b""
        try:
            async with self._sessions.begin() as session:
                terminal = await finalize(session)
                seq, text, frame = self.encode(terminal)
                self._queue(seq, terminal, text)
                await self.flush(session)
        except Exception:
            logger.exception("run %s could not be finalised in the database", self.run_id)
            if not frame:
                _, _, frame = self.encode(ErrorData(message="the run could not be saved", code="internal"))
            raise
        finally:
            # Whatever happened, live streams get their terminal event and close.
            await self._log.append(self.run_id, [frame], closed=True)
