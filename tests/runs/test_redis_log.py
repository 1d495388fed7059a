"""The Redis event log against a real Redis (the suite's, on the key of a fresh run id)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from tandem.runs.redis_log import RedisEventLog, stream_key
from tests.conftest import REDIS_URL


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
