from __future__ import annotations

import asyncio

import pytest

from tandem.runs.eventlog import Batch, InProcessEventLog

RUN = "run-1"


def _log(retention: float = 60.0) -> InProcessEventLog:
    log = InProcessEventLog(retention=retention)
    log.open(RUN)
    return log


async def test_a_reader_gets_the_frames_after_its_seq_and_whether_the_run_is_over() -> None:
    log = _log()
    await log.append(RUN, [(1, b"a"), (2, b"b")])
    # Frames already there are returned at once: the generous deadline is far below the read's own wait.
    assert await asyncio.wait_for(log.read(RUN, 0, timeout=600), 5) == Batch(frames=[b"a", b"b"], closed=False)
    assert await asyncio.wait_for(log.read(RUN, 1, timeout=600), 5) == Batch(frames=[b"b"], closed=False)
    await log.append(RUN, [(3, b"c")], closed=True)
    assert await log.read(RUN, 2, timeout=1) == Batch(frames=[b"c"], closed=True)
    assert await log.read(RUN, 3, timeout=1) == Batch(frames=[], closed=True)
    assert await log.last_seq(RUN) == 3


async def test_a_waiting_reader_wakes_on_the_next_append() -> None:
    log = _log()
    reading = asyncio.create_task(log.read(RUN, 0, timeout=30))
    await asyncio.sleep(0.01)
    assert not reading.done()
    await log.append(RUN, [(1, b"a")])
    assert await asyncio.wait_for(reading, 5) == Batch(frames=[b"a"], closed=False)


async def test_a_reader_with_nothing_new_gets_an_empty_batch_when_its_wait_is_up() -> None:
    log = _log()
    assert await asyncio.wait_for(log.read(RUN, 0, timeout=0.01), 5) == Batch(frames=[], closed=False)


async def test_an_append_that_would_leave_a_gap_is_refused() -> None:
    log = _log()
    await log.append(RUN, [(1, b"a")])
    with pytest.raises(ValueError, match=f"run {RUN}: seq 3 after 1 would leave a gap"):
        await log.append(RUN, [(3, b"c"), (4, b"d")])
    assert await log.last_seq(RUN) == 1


async def test_a_dropped_run_is_gone_and_its_readers_wake_to_find_it_gone() -> None:
    log = _log()
    reading = asyncio.create_task(log.read(RUN, 0, timeout=30))
    await asyncio.sleep(0.01)
    log.drop(RUN)
    assert await asyncio.wait_for(reading, 5) is None
    assert not await log.has(RUN)
    assert not log.holds(RUN)
    assert await log.read(RUN, 0, timeout=1) is None
    assert await log.last_seq(RUN) is None
    log.drop(RUN)  # dropping twice is harmless


async def test_an_open_run_is_held_and_has_no_seq_until_its_first_append() -> None:
    log = _log()
    assert await log.has(RUN)
    assert log.holds(RUN)
    assert not log.holds("other")
    assert await log.last_seq(RUN) is None
    assert await log.last_seq("other") is None


async def test_a_finished_run_is_kept_for_its_retention_then_forgotten() -> None:
    log = _log(retention=0.05)
    await log.append(RUN, [(1, b"a")], closed=True)
    assert log.holds(RUN)
    log.open("other")
    await log.append("other", [(1, b"x")])
    for _ in range(100):
        if not log.holds(RUN):
            break
        await asyncio.sleep(0.01)
    assert not log.holds(RUN)
    assert log.holds("other")


async def test_expiry_spares_a_run_reopened_under_the_same_id() -> None:
    log = _log(retention=0.05)
    await log.append(RUN, [(1, b"a")], closed=True)
    log.drop(RUN)
    log.open(RUN)
    await asyncio.sleep(0.1)
    assert log.holds(RUN)
