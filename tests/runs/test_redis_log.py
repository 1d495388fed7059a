"""The Redis event log against a real Redis (the suite's, on the key of a fresh run id)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from redis.asyncio import Redis

from tandem.runs.redis_log import RedisEventLog, stream_key
from tests.conftest import REDIS_URL

SOCKET_TIMEOUT = 0.3
"""Short, so that a run silent for longer takes a fraction of a second."""


async def test_a_mirror_follows_a_run_silent_for_longer_than_the_socket_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run may be silent for long (a model thinking): the mirror that follows it for this
    process's viewers must not have its blocking reads cut short by the client's socket timeout
    (redis-py's default is 5 s, as long as the reads were), which broke it and sent its viewers
    to poll the database."""
    run_id = str(uuid.uuid4())
    writer = RedisEventLog(Redis.from_url(REDIS_URL), retention=5)
    reader = RedisEventLog(Redis.from_url(REDIS_URL, socket_timeout=SOCKET_TIMEOUT), retention=5)
    try:
        await writer.append(run_id, [(1, b"one")])
        first = await reader.read(run_id, 0, timeout=1)
        assert first is not None
        assert first.frames == [b"one"]
        with caplog.at_level(logging.WARNING, logger="tandem.runs.redis_log"):
            await asyncio.sleep(SOCKET_TIMEOUT * 4)
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
