from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.persistence.models import AgentInteraction, Run, RunEventRow
from tandem.runs import committer as committer_module
from tandem.runs.committer import Batch, CommitAborted, GroupCommitter, RunLost
from tests.conftest import NewRun
from tests.runs.conftest import Gate


def _events(run_id: str, seqs: range) -> list[dict[str, Any]]:
    return [{"run_id": run_id, "seq": seq, "type": "agent_delta", "payload": f'{{"seq": {seq}}}'} for seq in seqs]


async def _stored(sessions: async_sessionmaker[AsyncSession], run_id: str) -> tuple[list[int], Run]:
    async with sessions() as session:
        seqs = list(await session.scalars(select(RunEventRow.seq).where(RunEventRow.run_id == run_id)))
        run = await session.get_one(Run, run_id)
    return sorted(seqs), run


async def test_batches_of_many_runs_are_written_in_one_commit(
    sessions: async_sessionmaker[AsyncSession], new_run: NewRun
) -> None:
    runs = [await new_run() for _ in range(5)]
    committer = GroupCommitter(sessions)
    interaction = {
        "id": f"{runs[0].id}:3",
        "message_id": runs[0].message_id,
        "run_id": runs[0].id,
        "seq": 3,
        "agent_name": "Planner",
        "message_type": "thought",
        "content": "x",
        "tool_name": None,
        "tool_arguments": None,
        "tool_call_id": None,
        "timestamp": datetime(2026, 11, 24, tzinfo=UTC),
    }
    try:
        await asyncio.gather(
            committer.commit(Batch(runs[0].id, _events(runs[0].id, range(1, 4)), [interaction])),
            *(
                committer.commit(Batch(run.id, _events(run.id, range(1, 1 + i)), []))
                for i, run in enumerate(runs[1:], 1)
            ),
        )
    finally:
        await committer.close()

    for i, run in enumerate(runs):
        seqs, row = await _stored(sessions, run.id)
        expected = 3 if i == 0 else i
        assert seqs == list(range(1, expected + 1))
        assert row.last_seq == expected
        assert row.heartbeat_at is not None
    async with sessions() as session:
        ids = list(await session.scalars(select(AgentInteraction.id).where(AgentInteraction.run_id == runs[0].id)))
    assert ids == [f"{runs[0].id}:3"]


async def _age_lease(sessions: async_sessionmaker[AsyncSession], run_id: str) -> datetime:
    """Date the run's lease an hour back: a renewal must move it forward, whatever the clock's resolution."""
    old = datetime.now(UTC) - timedelta(hours=1)
    async with sessions.begin() as session:
        await session.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=old))
    return old


async def test_every_batch_renews_the_lease_and_one_without_events_keeps_last_seq(
    sessions: async_sessionmaker[AsyncSession], new_run: NewRun
) -> None:
    run = await new_run()
    committer = GroupCommitter(sessions)
    try:
        old = await _age_lease(sessions, run.id)
        await committer.commit(Batch(run.id, _events(run.id, range(1, 3)), []))
        _, with_events = await _stored(sessions, run.id)
        old_again = await _age_lease(sessions, run.id)
        await committer.commit(Batch(run.id, [], []))
    finally:
        await committer.close()

    _, without_events = await _stored(sessions, run.id)
    assert with_events.heartbeat_at is not None
    assert with_events.heartbeat_at > old, "a batch of events renews the lease"
    assert without_events.heartbeat_at is not None
    assert without_events.heartbeat_at > old_again, "an empty batch renews the lease"
    assert without_events.last_seq == 2


async def test_a_run_ended_elsewhere_gets_run_lost_and_the_others_are_written(
    sessions: async_sessionmaker[AsyncSession], new_run: NewRun
) -> None:
    ours, taken = await new_run(), await new_run()
    async with sessions.begin() as session:  # another process interrupted it
        await session.execute(update(Run).where(Run.id == taken.id).values(status="interrupted"))
    committer = GroupCommitter(sessions)
    try:
        results = await asyncio.gather(
            committer.commit(Batch(ours.id, _events(ours.id, range(1, 3)), [])),
            committer.commit(Batch(taken.id, _events(taken.id, range(1, 3)), [])),
            return_exceptions=True,
        )
    finally:
        await committer.close()

    assert results[0] is None
    assert isinstance(results[1], RunLost)
    assert str(results[1]) == f"run {taken.id} was ended by another process"
    assert (await _stored(sessions, ours.id))[0] == [1, 2]
    seqs, row = await _stored(sessions, taken.id)
    assert seqs == []
    assert (row.status, row.last_seq) == ("interrupted", 0)


@pytest.mark.parametrize("count", [1, 40])
async def test_one_commit_takes_as_many_statements_whatever_the_number_of_runs(
    sessions: async_sessionmaker[AsyncSession], new_run: NewRun, count: int
) -> None:
    runs = [await new_run() for _ in range(count)]
    committer = GroupCommitter(sessions)
    statements: list[str] = []
    engine = sessions.kw["bind"]

    def count_statement(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count_statement)
    try:
        await asyncio.gather(*(committer.commit(Batch(r.id, _events(r.id, range(1, 3)), [])) for r in runs))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count_statement)
        await committer.close()
    # The lease check, the renewals (one executemany) and the inserts (one executemany): no per-run statement.
    assert len([s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]) == 3


class _Crash(BaseException):
    """Not an `Exception`: what the commit loop's per-batch error handling does not catch."""


async def test_a_caller_cancelled_mid_commit_does_not_stop_the_loop(
    sessions: async_sessionmaker[AsyncSession], new_run: NewRun, gate: Gate
) -> None:
    first, second = await new_run(), await new_run()
    committer = GroupCommitter(sessions)
    try:
        waiting = asyncio.create_task(committer.commit(Batch(first.id, _events(first.id, range(1, 3)), [])))
        await gate.reached.wait()  # the loop has taken the batch and waits at the gate
        waiting.cancel()
        gate.opened.set()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # The loop survived settling a cancelled waiter: later commits are written.
        await asyncio.wait_for(committer.commit(Batch(second.id, _events(second.id, range(1, 2)), [])), 10)
    finally:
        await committer.close()
    assert (await _stored(sessions, first.id))[0] == [1, 2], "the batch was taken, so it is written"
    assert (await _stored(sessions, second.id))[0] == [1]


async def test_a_crashed_loop_fails_its_waiters_and_restarts(
    sessions: async_sessionmaker[AsyncSession],
    new_run: NewRun,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = await new_run()
    write = committer_module.write_batches
    calls = 0

    async def crashing_once(session: AsyncSession, batches: Sequence[Batch]) -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise _Crash
        return await write(session, batches)

    monkeypatch.setattr(committer_module, "write_batches", crashing_once)
    committer = GroupCommitter(sessions)
    try:
        with pytest.raises(CommitAborted) as aborted:
            await asyncio.wait_for(committer.commit(Batch(run.id, _events(run.id, range(1, 2)), [])), 10)
        await asyncio.wait_for(committer.commit(Batch(run.id, _events(run.id, range(1, 3)), [])), 10)
    finally:
        await committer.close()
    assert str(aborted.value) == "the group commit loop stopped before writing this batch"
    assert (await _stored(sessions, run.id))[0] == [1, 2]
    [stopped] = [r for r in caplog.records if r.name == "tandem.runs.committer"]
    assert stopped.getMessage() == "the group commit loop stopped; the next commit restarts it"
    assert stopped.levelname == "ERROR"
    assert stopped.exc_info is not None
    assert stopped.exc_info[0] is _Crash


async def test_a_loop_cancelled_from_outside_fails_its_waiters_and_restarts(
    sessions: async_sessionmaker[AsyncSession], new_run: NewRun, gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    run = await new_run()
    committer = GroupCommitter(sessions)
    try:
        waiting = asyncio.ensure_future(committer.commit(Batch(run.id, _events(run.id, range(1, 2)), [])))
        await gate.reached.wait()
        [loop] = [t for t in asyncio.all_tasks() if t.get_name() == "group-commit" and not t.done()]
        loop.cancel()
        with pytest.raises(CommitAborted):
            await asyncio.wait_for(waiting, 10)
        gate.opened.set()
        await asyncio.wait_for(committer.commit(Batch(run.id, _events(run.id, range(1, 2)), [])), 10)
    finally:
        await committer.close()
    assert (await _stored(sessions, run.id))[0] == [1]
    [stopped] = [r for r in caplog.records if r.name == "tandem.runs.committer"]
    assert stopped.getMessage() == "the group commit loop stopped; the next commit restarts it"
    assert stopped.exc_info is None


async def test_a_failed_transaction_fails_its_batches_and_the_loop_goes_on(
    sessions: async_sessionmaker[AsyncSession],
    new_run: NewRun,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = await new_run()
    write = committer_module.write_batches
    failures = [RuntimeError("disk full")]

    async def failing_once(session: AsyncSession, batches: Sequence[Batch]) -> set[str]:
        if failures:
            raise failures.pop()
        return await write(session, batches)

    monkeypatch.setattr(committer_module, "write_batches", failing_once)
    committer = GroupCommitter(sessions)
    try:
        with pytest.raises(RuntimeError, match=r"^disk full$"):
            await asyncio.wait_for(committer.commit(Batch(run.id, _events(run.id, range(1, 2)), [])), 10)
        await asyncio.wait_for(committer.commit(Batch(run.id, _events(run.id, range(1, 2)), [])), 10)
    finally:
        await committer.close()
    assert (await _stored(sessions, run.id))[0] == [1]
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "tandem.runs.committer"] == [
        ("WARNING", "group commit of 1 batch(es) failed: disk full")
    ]


async def test_close_ends_the_loop_and_later_commits_are_refused(
    sessions: async_sessionmaker[AsyncSession], new_run: NewRun, caplog: pytest.LogCaptureFixture
) -> None:
    run = await new_run()
    committer = GroupCommitter(sessions)
    await committer.commit(Batch(run.id, [], []))
    [loop] = [t for t in asyncio.all_tasks() if t.get_name() == "group-commit" and not t.done()]
    await committer.close()
    assert loop.done()
    with pytest.raises(CommitAborted) as refused:
        await asyncio.wait_for(committer.commit(Batch(run.id, _events(run.id, range(1, 2)), [])), 10)
    assert str(refused.value) == "the server is shutting down"
    assert [r for r in caplog.records if r.name == "tandem.runs.committer"] == [], "a shutdown is no crash"
