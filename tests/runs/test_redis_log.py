"""The Redis event log against a real Redis (the suite's, on the key of a fresh run id)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tandem.runs.eventlog import Batch
from tandem.runs.redis_log import RedisEventLog, stream_key
from tests.conftest import REDIS_URL

# Nothing listens here: every command fails with a `ConnectionError`, a `RedisError`.
UNREACHABLE = "redis://127.0.0.1:9/0"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with Redis.from_url(REDIS_URL) as redis:
        yield redis


@pytest.fixture
async def run_id(redis: Redis) -> AsyncIterator[str]:
    """A fresh run id; its stream is deleted afterwards."""
    run_id = str(uuid.uuid4())
    yield run_id
    await redis.delete(stream_key(run_id))


@pytest.fixture
async def logs() -> AsyncIterator[tuple[RedisEventLog, RedisEventLog]]:
    """A writer and a reader: two processes' logs on the same Redis."""
    writer = RedisEventLog(Redis.from_url(REDIS_URL), retention=30)
    reader = RedisEventLog(Redis.from_url(REDIS_URL, socket_timeout=5), retention=30)
    yield writer, reader
    await reader.close()
    await writer.close()


async def test_entries_are_stored_under_their_seq_and_the_last_of_a_closed_run_says_end(
    redis: Redis, run_id: str
) -> None:
    log = RedisEventLog(Redis.from_url(REDIS_URL), retention=7.9)
    try:
        await log.append(run_id, [(1, b"one"), (2, b"two")])
        assert await redis.ttl(stream_key(run_id)) == -1, "a live run's stream does not expire"
        await log.append(run_id, [(3, b"three"), (4, b"four")], closed=True)
    finally:
        await log.close()
    assert stream_key(run_id) == f"tandem:run:{run_id}"
    assert await redis.xrange(stream_key(run_id)) == [
        (b"1-0", {b"f": b"one"}),
        (b"2-0", {b"f": b"two"}),
        (b"3-0", {b"f": b"three"}),
        (b"4-0", {b"f": b"four", b"end": b"1"}),
    ]
    assert await redis.ttl(stream_key(run_id)) == 7, "retention, in whole seconds"


async def test_a_retention_under_a_second_keeps_the_stream_a_second(redis: Redis, run_id: str) -> None:
    log = RedisEventLog(Redis.from_url(REDIS_URL), retention=0.2)
    try:
        await log.append(run_id, [(1, b"only")], closed=True)
        assert 0 < await redis.pttl(stream_key(run_id)) <= 1000
    finally:
        await log.close()


async def test_another_process_reads_a_run_through_its_mirror(
    logs: tuple[RedisEventLog, RedisEventLog], run_id: str
) -> None:
    writer, reader = logs
    assert await reader.read(run_id, 0, timeout=0.1) is None, "no such run"
    assert await reader.has(run_id) is False
    assert await reader.last_seq(run_id) is None
    await writer.append(run_id, [(1, b"a"), (2, b"bb")])
    assert await reader.has(run_id) is True
    assert await reader.last_seq(run_id) == 2
    assert await reader.read(run_id, 0, timeout=5) == Batch(frames=[b"a", b"bb"], closed=False)
    assert await reader.read(run_id, 1, timeout=5, max_bytes=1) == Batch(frames=[b"bb"], closed=False)
    waiting = asyncio.create_task(reader.read(run_id, 2, timeout=30))
    await writer.append(run_id, [(3, b"c")], closed=True)
    assert await waiting == Batch(frames=[b"c"], closed=True)
    assert await reader.read(run_id, 0, timeout=5, max_bytes=3) == Batch(frames=[b"a", b"bb"], closed=False)
    assert await reader.read(run_id, 3, timeout=5) == Batch(frames=[], closed=True)
    assert await reader.last_seq(run_id) == 3


async def test_ending_a_run_this_process_only_mirrors_reaches_redis_while_the_mirror_is_behind(
    logs: tuple[RedisEventLog, RedisEventLog], run_id: str, redis: Redis
) -> None:
    """How a survivor ends a dead process's run (`publish_persisted`): it appends the rest and the
    end to a run it may be mirroring. Its mirror can be behind Redis at that moment; the end must
    still reach Redis (or every viewer elsewhere waits for ever) and the mirror's readers get it all."""
    writer, survivor = logs
    await writer.append(run_id, [(1, b"a"), (2, b"b")])
    # Starts the mirror; a zero timeout returns before its first XREAD has answered.
    assert await survivor.read(run_id, 0, timeout=0) == Batch(frames=[], closed=False)
    await survivor.append(run_id, [(3, b"c")], closed=True)
    assert (await redis.xrevrange(stream_key(run_id), count=1))[0] == (b"3-0", {b"f": b"c", b"end": b"1"})
    assert await survivor.read(run_id, 0, timeout=5) == Batch(frames=[b"a", b"b", b"c"], closed=True)


async def test_the_writers_own_readers_are_served_locally(
    logs: tuple[RedisEventLog, RedisEventLog], run_id: str, redis: Redis
) -> None:
    writer, _ = logs
    writer.open(run_id)
    await writer.append(run_id, [(1, b"a")])
    await redis.delete(stream_key(run_id))
    assert await writer.has(run_id) is True, "from the local log, not Redis"
    assert await writer.read(run_id, 0, timeout=5) == Batch(frames=[b"a"], closed=False)


async def test_a_mirror_whose_stream_vanishes_before_its_end_sends_readers_to_the_database(
    logs: tuple[RedisEventLog, RedisEventLog], run_id: str, redis: Redis
) -> None:
    writer, reader = logs
    await writer.append(run_id, [(1, b"a")])
    assert await reader.read(run_id, 0, timeout=5) == Batch(frames=[b"a"], closed=False)
    await redis.delete(stream_key(run_id))
    assert await reader.read(run_id, 1, timeout=30) is None, "the mirror dropped the run"
    assert await reader.read(run_id, 0, timeout=0.1) is None


async def test_without_redis_publishing_is_logged_and_the_run_looks_absent(
    run_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = RedisEventLog(Redis.from_url(UNREACHABLE), retention=5)
    try:
        log.open(run_id)
        with caplog.at_level(logging.WARNING, logger="tandem.runs.redis_log"):
            await log.append(run_id, [(1, b"a")], closed=True)
        assert [r.getMessage().startswith(f"publishing run {run_id} to Redis failed: ") for r in caplog.records] == [
            True
        ]
        assert await log.read(run_id, 0, timeout=1) == Batch(frames=[b"a"], closed=True), "local readers have it"
        other = str(uuid.uuid4())
        assert await log.has(other) is False
        assert await log.last_seq(other) is None
        assert await log.read(other, 0, timeout=1) is None
    finally:
        await log.close()


@pytest.mark.parametrize(("socket_timeout", "block_ms"), [(None, 2000), (10.0, 2000), (0.3, 150)])
async def test_a_mirrors_blocking_read_returns_before_the_socket_timeout(
    socket_timeout: float | None, block_ms: int
) -> None:
    log = RedisEventLog(Redis.from_url(REDIS_URL, socket_timeout=socket_timeout), retention=1)
    assert log._block_ms == block_ms
    await log.close()


@pytest.mark.parametrize(
    "settle",
    [
        pytest.param(0, id="closed as the mirror sends its next read"),
        pytest.param(0.5, id="closed while the mirror waits for entries"),
    ],
)
async def test_closing_stops_the_mirrors_and_the_client(
    logs: tuple[RedisEventLog, RedisEventLog], run_id: str, settle: float
) -> None:
    writer, reader = logs
    await writer.append(run_id, [(1, b"a")])
    await reader.read(run_id, 0, timeout=5)
    [mirror] = [t for t in asyncio.all_tasks() if t.get_name() == f"mirror-{run_id}"]
    await asyncio.sleep(settle)
    async with asyncio.timeout(10):  # it hung for as long as the run went on (the cancel was swallowed)
        await reader.close()
    assert mirror.done()


@pytest.mark.parametrize(
    ("client_settings", "silence"),
    [
        pytest.param({}, 5.5, id="redis-py's default socket timeout (5 s), as the app's client has"),
        pytest.param({"socket_timeout": 0.3}, 1.2, id="a short socket timeout"),
    ],
)
async def test_a_mirror_follows_a_run_silent_for_longer_than_the_socket_timeout(
    client_settings: dict[str, Any], silence: float, caplog: pytest.LogCaptureFixture
) -> None:
    """A run may be silent for long (a model thinking): the mirror that follows it for this
    process's viewers must not have its blocking reads cut short by the client's socket timeout,
    which broke it and sent its viewers to poll the database."""
    run_id = str(uuid.uuid4())
    writer = RedisEventLog(Redis.from_url(REDIS_URL), retention=5)
    reader = RedisEventLog(Redis.from_url(REDIS_URL, **client_settings), retention=5)
    try:
        await writer.append(run_id, [(1, b"one")])
        first = await reader.read(run_id, 0, timeout=1)
        assert first is not None
        assert first.frames == [b"one"]
        with caplog.at_level(logging.WARNING, logger="tandem.runs.redis_log"):
            await asyncio.sleep(silence)
            await writer.append(run_id, [(2, b"two")], closed=True)
            second = await reader.read(run_id, 1, timeout=1)
        assert second is not None
        assert second.frames == [b"two"]
        assert second.closed
        assert not caplog.records, "the mirror kept following"
    finally:
        async with Redis.from_url(REDIS_URL) as redis:
            await redis.delete(stream_key(run_id))
        await reader.close()
        await writer.close()


class ClientThatFailsToClose(Redis):
    """Closing it fails at once (as a connection error would), without waiting for anything."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        raise RedisConnectionError("the connection is gone")


async def test_closing_waits_for_the_mirrors_and_ignores_a_client_that_fails_to_close(
    logs: tuple[RedisEventLog, RedisEventLog], run_id: str
) -> None:
    writer, _ = logs
    client = ClientThatFailsToClose.from_url(REDIS_URL)
    reader = RedisEventLog(client, retention=30)
    try:
        await writer.append(run_id, [(1, b"a")])
        await reader.read(run_id, 0, timeout=5)
        [mirror] = [t for t in asyncio.all_tasks() if t.get_name() == f"mirror-{run_id}"]
        await asyncio.sleep(0.5)
        await reader.close()
        assert mirror.done(), "close returned before the mirror ended"
    finally:
        await Redis.aclose(client)
