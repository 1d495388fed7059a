from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.events import AgentDeltaData, AgentInteractionData, ErrorData, EventData
from tandem.persistence.models import Run, RunEventRow
from tandem.runs.committer import GroupCommitter
from tandem.runs.eventlog import InProcessEventLog
from tandem.runs.recorder import RunRecorder
from tests.runs.conftest import Gate
from tests.support import SeededRun


@pytest.fixture
def log(run: SeededRun) -> InProcessEventLog:
    log = InProcessEventLog(retention=60)
    log.open(run.id)
    return log


@pytest.fixture
async def recorder(
    sessions: async_sessionmaker[AsyncSession], log: InProcessEventLog, run: SeededRun
) -> AsyncIterator[RunRecorder]:
    committer = GroupCommitter(sessions)
    recorder = RunRecorder(run_id=run.id, message_id=run.message_id, sessions=sessions, committer=committer, log=log)
    recorder.start()
    yield recorder
    await committer.close()


def _delta(text: str, message_type: str = "thought", agent: str = "Planner") -> AgentDeltaData:
    return AgentDeltaData.model_validate({"agent_name": agent, "message_type": message_type, "delta": text})


async def _cancelled(_session: AsyncSession) -> EventData:
    return ErrorData(message="stopped", code="cancelled")


async def _finish(recorder: RunRecorder, sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    """Close the run; its events as the database has them."""
    await recorder.close(_cancelled)
    return await _stored(recorder, sessions)


async def _stored(recorder: RunRecorder, sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        payloads = await session.scalars(
            select(RunEventRow.payload).where(RunEventRow.run_id == recorder.run_id).order_by(RunEventRow.seq)
        )
        return [json.loads(p) for p in payloads]


async def test_deltas_waiting_for_their_batch_become_one_per_agent_and_kind(
    recorder: RunRecorder, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Emitted with no await in between: the writer has taken nothing yet, as when it is busy.
    for i in range(50):
        recorder.emit(_delta(f"t{i} "))
    recorder.emit(_delta("answer ", "message"))
    recorder.emit(_delta("more", "message"))
    recorder.emit(_delta("coder thinks", "thought", agent="Coder"))
    interaction_id = recorder.interaction_id()
    recorder.emit(
        AgentInteractionData.model_validate(
            {
                "agent_name": "Planner",
                "message_type": "thought",
                "content": "x",
                "timestamp": "2026-11-23T00:00:00Z",
                "id": interaction_id,
            }
        )
    )
    recorder.emit(_delta("after"))

    events = await _finish(recorder, sessions)

    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["type"], e["data"].get("delta")) for e in events] == [
        ("agent_delta", "".join(f"t{i} " for i in range(50))),
        ("agent_delta", "answer more"),
        ("agent_delta", "coder thinks"),
        ("agent_interaction", None),
        ("agent_delta", "after"),
        ("error", None),
    ]
    assert events[3]["data"]["id"] == f"{recorder.run_id}:{events[3]['seq']}"


async def test_a_delta_emitted_after_the_previous_was_written_is_its_own_event(
    recorder: RunRecorder, sessions: async_sessionmaker[AsyncSession], log: InProcessEventLog
) -> None:
    recorder.emit(_delta("one "))
    await _published(log, recorder.run_id, 1)
    recorder.emit(_delta("two"))
    await _published(log, recorder.run_id, 2)

    events = await _finish(recorder, sessions)

    assert [(e["type"], e["data"].get("delta")) for e in events] == [
        ("agent_delta", "one "),
        ("agent_delta", "two"),
        ("error", None),
    ]


async def _published(log: InProcessEventLog, run_id: str, seq: int) -> None:
    batch = await log.read(run_id, seq - 1, timeout=5)
    assert batch is not None
    assert batch.frames, f"event {seq} was not published"


async def _published_events(log: InProcessEventLog, run_id: str) -> tuple[list[dict[str, Any]], bool]:
    """What the run's viewers got, and whether its log is closed."""
    batch = await log.read(run_id, 0, timeout=0)
    assert batch is not None
    return [json.loads(frame.split(b"data: ", 1)[1]) for frame in batch.frames], batch.closed


async def _end_while_a_delta_is_being_joined(
    recorder: RunRecorder, gate: Gate, finalize: Callable[[AsyncSession], Awaitable[EventData]]
) -> None:
    recorder.emit(_delta("first "))
    await gate.reached.wait()  # the writer took "first " and waits for its commit...
    recorder.emit(_delta("last words"))  # ...while the last delta arrives and the run ends
    closing = asyncio.ensure_future(recorder.close(finalize))
    await asyncio.sleep(0)  # close has begun: the writer will find the run closing
    gate.opened.set()
    await closing


async def test_a_delta_still_being_joined_when_the_run_ends_is_written_and_published(
    recorder: RunRecorder, sessions: async_sessionmaker[AsyncSession], log: InProcessEventLog, gate: Gate
) -> None:
    await _end_while_a_delta_is_being_joined(recorder, gate, _cancelled)

    events = await _stored(recorder, sessions)
    assert [(e["seq"], e["type"], e["data"].get("delta")) for e in events] == [
        (1, "agent_delta", "first "),
        (2, "agent_delta", "last words"),
        (3, "error", None),
    ]
    assert await _published_events(log, recorder.run_id) == (events, True)


async def test_a_delta_still_being_joined_is_published_even_if_the_run_cannot_be_finalised(
    recorder: RunRecorder, log: InProcessEventLog, gate: Gate
) -> None:
    # The writer must not stop with a delta pending (close's transaction is no place for it): if
    # finalising fails, what close took is rolled back and never published, so the internal error
    # would follow a seq gap.
    async def failing(_session: AsyncSession) -> EventData:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        await _end_while_a_delta_is_being_joined(recorder, gate, failing)

    published, closed = await _published_events(log, recorder.run_id)
    assert closed
    assert [(e["seq"], e["type"], e["data"].get("delta")) for e in published] == [
        (1, "agent_delta", "first "),
        (2, "agent_delta", "last words"),
        (3, "error", None),
    ]
    assert published[-1]["data"]["code"] == "internal"


async def test_close_publishes_what_it_writes_itself(
    sessions: async_sessionmaker[AsyncSession], log: InProcessEventLog, run: SeededRun
) -> None:
    # No writer task: close alone must write *and publish* whatever is pending, or the stream gets
    # the terminal event after a seq gap (and never the events the database has).
    committer = GroupCommitter(sessions)
    recorder = RunRecorder(run_id=run.id, message_id=run.message_id, sessions=sessions, committer=committer, log=log)
    try:
        recorder.emit(_delta("thinking "))
        recorder.emit(_delta("aloud"))
        recorder.emit(_delta("answer", "message"))
        events = await _finish(recorder, sessions)
    finally:
        await committer.close()

    assert [(e["seq"], e["type"], e["data"].get("delta")) for e in events] == [
        (1, "agent_delta", "thinking aloud"),
        (2, "agent_delta", "answer"),
        (3, "error", None),
    ]
    assert await _published_events(log, run.id) == (events, True)


async def test_an_idle_run_renews_its_lease_every_heartbeat(
    sessions: async_sessionmaker[AsyncSession], log: InProcessEventLog, run: SeededRun
) -> None:
    # A run waiting on a slow model emits nothing for a long while: only the heartbeat keeps other
    # processes from taking it for dead.
    old = datetime.now(UTC) - timedelta(hours=1)
    async with sessions.begin() as session:
        await session.execute(update(Run).where(Run.id == run.id).values(heartbeat_at=old))
    committer = GroupCommitter(sessions)
    recorder = RunRecorder(
        run_id=run.id,
        message_id=run.message_id,
        sessions=sessions,
        committer=committer,
        log=log,
        heartbeat_interval=0.05,
    )
    recorder.start()
    try:
        renewed = old
        for _ in range(100):  # 5 s: a hundred heartbeats
            await asyncio.sleep(0.05)
            async with sessions() as session:
                renewed = await session.scalar(select(Run.heartbeat_at).where(Run.id == run.id)) or old
            if renewed > old:
                break
        assert renewed > old, "an idle run's lease was never renewed"
        assert recorder.seq == 0, "nothing was emitted: the renewal is the heartbeat's"
        await _finish(recorder, sessions)
    finally:
        await committer.close()
