from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.events import AgentDeltaData, AgentInteractionData, ErrorData, EventData, envelope
from tandem.persistence.models import AgentInteraction, Run, RunEventRow
from tandem.runs.committer import Batch, GroupCommitter
from tandem.runs.eventlog import InProcessEventLog
from tandem.runs.recorder import RunRecorder
from tests.conftest import NewRun
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
    recorder.emit(
        AgentInteractionData.model_validate(
            {"agent_name": "Planner", "message_type": "thought", "content": "x", "timestamp": "2026-11-23T00:00:00Z"}
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


def _interaction(**fields: Any) -> AgentInteractionData:
    return AgentInteractionData.model_validate(
        {
            "agent_name": "Coder",
            "message_type": "tool_call",
            "content": "",
            "timestamp": "2026-11-23T00:00:00Z",
            **fields,
        }
    )


async def test_interactions_are_stored_with_their_message_and_seq_and_the_run_its_last_seq(
    recorder: RunRecorder, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    recorder.emit(_delta("hmm"))
    call = _interaction(tool_name="write_file", tool_arguments={"path": "a"}, tool_call_id="c1", content="calling")
    recorder.emit(call)
    events = await _finish(recorder, sessions)
    async with sessions() as session:
        [row] = await session.scalars(select(AgentInteraction).where(AgentInteraction.run_id == run.id))
        stored_run = await session.get_one(Run, run.id)
    assert (row.id, row.message_id, row.seq, row.agent_name, row.message_type, row.content) == (
        f"{run.id}:2",
        run.message_id,
        2,
        "Coder",
        "tool_call",
        "calling",
    )
    assert (row.tool_name, row.tool_arguments, row.tool_call_id) == ("write_file", {"path": "a"}, "c1")
    assert row.timestamp.replace(tzinfo=UTC) == datetime(2026, 11, 23, tzinfo=UTC)
    assert stored_run.last_seq == 3 == len(events)
    assert events[1] == {
        "run_id": run.id,
        "seq": 2,
        "type": "agent_interaction",
        "data": call.model_dump(mode="json") | {"id": f"{run.id}:2"},
    }


async def test_a_resumed_recorder_numbers_on_from_what_was_published(
    sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    log = InProcessEventLog(retention=60)
    log.open(run.id)
    await log.append(run.id, [(1, b"one"), (2, b"two")])
    committer = GroupCommitter(sessions)
    recorder = RunRecorder(
        run_id=run.id, message_id=run.message_id, sessions=sessions, committer=committer, log=log, published_seq=2
    )
    recorder.start()
    try:
        recorder.emit(_delta("three"))
        recorder.emit(_interaction())
        events = await _finish(recorder, sessions)
    finally:
        await committer.close()
    assert [(e["seq"], e["type"]) for e in events] == [(3, "agent_delta"), (4, "agent_interaction"), (5, "error")]
    assert events[1]["data"]["id"] == f"{run.id}:4"
    batch = await log.read(run.id, 2, timeout=0)
    assert batch is not None
    assert [frame.split(b"\n")[0] for frame in batch.frames] == [b"id: 3", b"id: 4", b"id: 5"]


async def test_a_failed_commit_is_retried_until_it_is_written(
    recorder: RunRecorder,
    sessions: async_sessionmaker[AsyncSession],
    log: InProcessEventLog,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    commit = GroupCommitter.commit
    failures = [RuntimeError("database hiccup")]

    async def flaky(self: GroupCommitter, batch: Batch) -> None:
        if failures:
            raise failures.pop()
        await commit(self, batch)

    monkeypatch.setattr(GroupCommitter, "commit", flaky)
    recorder.emit(_delta("once"))
    await _published(log, recorder.run_id, 1)
    events = await _finish(recorder, sessions)
    assert [(e["seq"], e["data"].get("delta")) for e in events] == [(1, "once"), (2, None)]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"persisting events of run {recorder.run_id} failed; retrying"
    ]


async def _interrupt(sessions: async_sessionmaker[AsyncSession], run_id: str, seq: int) -> None:
    """What another process does to a run it takes for dead: ends it and writes its terminal event."""
    data = ErrorData(message="interrupted", code="interrupted")
    async with sessions.begin() as session:
        await session.execute(update(Run).where(Run.id == run_id).values(status="interrupted"))
        session.add(
            RunEventRow(run_id=run_id, seq=seq, type="error", payload=envelope(run_id, seq, data).model_dump_json())
        )


async def test_a_run_taken_over_by_another_process_stops_writing_and_publishes_the_databases_end(
    sessions: async_sessionmaker[AsyncSession],
    log: InProcessEventLog,
    run: SeededRun,
    caplog: pytest.LogCaptureFixture,
) -> None:
    committer = GroupCommitter(sessions)
    lost: list[bool] = []
    recorder = RunRecorder(
        run_id=run.id,
        message_id=run.message_id,
        sessions=sessions,
        committer=committer,
        log=log,
        on_lost=lambda: lost.append(True),
    )
    recorder.start()
    try:
        recorder.emit(_delta("mine"))
        await _published(log, run.id, 1)
        await _interrupt(sessions, run.id, 2)
        recorder.emit(_delta("too late"))
        for _ in range(500):
            if recorder.lost:
                break
            await asyncio.sleep(0.01)
        assert recorder.lost
        assert lost == [True]
        assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
            f"run {run.id} was interrupted by another process; stopping it"
        ]

        async def never(_session: AsyncSession) -> EventData:
            raise AssertionError("a lost run is not finalised")

        await recorder.close(never)
    finally:
        await committer.close()
    stored = await _stored(recorder, sessions)
    assert [(e["seq"], e["type"]) for e in stored] == [(1, "agent_delta"), (2, "error")]
    assert await _published_events(log, run.id) == (stored, True)


async def test_a_run_taken_over_before_its_close_publishes_the_databases_end(
    sessions: async_sessionmaker[AsyncSession], log: InProcessEventLog, run: SeededRun, new_run: NewRun
) -> None:
    other = await new_run()
    await _interrupt(sessions, other.id, 1)  # another run's events are not this run's
    committer = GroupCommitter(sessions)
    recorder = RunRecorder(run_id=run.id, message_id=run.message_id, sessions=sessions, committer=committer, log=log)
    try:
        recorder.emit(_delta("never written"))
        # Stored out of order: publishing follows the seqs, not the storage order.
        await _interrupt(sessions, run.id, 2)
        async with sessions.begin() as session:
            data = _delta("written by the other process")
            session.add(
                RunEventRow(
                    run_id=run.id, seq=1, type="agent_delta", payload=envelope(run.id, 1, data).model_dump_json()
                )
            )
        await recorder.close(_cancelled)
    finally:
        await committer.close()
    assert recorder.lost
    stored = await _stored(recorder, sessions)
    assert [(e["seq"], e["type"]) for e in stored] == [(1, "agent_delta"), (2, "error")]
    assert await _published_events(log, run.id) == (stored, True)
