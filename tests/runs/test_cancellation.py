"""Cancel buses: a cancel reaches the process executing the run (one process, or any over Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tandem.errors import Unavailable
from tandem.runs.cancellation import LocalCancelBus, RedisCancelBus
from tests.conftest import REDIS_URL
from tests.support import free_port


async def test_the_local_bus_hands_cancels_to_its_handler_while_started() -> None:
    bus, cancelled = LocalCancelBus(), list[str]()
    await bus.publish("before")  # nothing listens yet: dropped, not an error
    await bus.start(cancelled.append)
    await bus.publish("run-1")
    await bus.close()
    await bus.publish("after")
    assert cancelled == ["run-1"]


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


class Received:
    """A handler that records run ids. Other suites may share this Redis and its channel, so tests
    wait for their own run ids only."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._changed = asyncio.Event()

    def __call__(self, run_id: str) -> None:
        self.ids.append(run_id)
        self._changed.set()

    async def until(self, run_id: str) -> None:
        while run_id not in self.ids:
            self._changed.clear()
            await self._changed.wait()


async def test_a_cancel_published_over_redis_reaches_every_subscribed_process(redis: Redis) -> None:
    here, there = RedisCancelBus(redis), RedisCancelBus(redis)
    seen_here, seen_there = Received(), Received()
    try:
        await here.start(seen_here)
        await there.start(seen_there)
        run_id = str(uuid.uuid4())

        await here.publish(run_id)

        await asyncio.wait_for(seen_here.until(run_id), 5)
        await asyncio.wait_for(seen_there.until(run_id), 5)
        await there.close()
        later = str(uuid.uuid4())
        await here.publish(later)
        await asyncio.wait_for(seen_here.until(later), 5)
        assert later not in seen_there.ids
    finally:
        await here.close()
        await there.close()


async def test_closing_a_redis_bus_that_never_started_is_harmless(redis: Redis) -> None:
    await RedisCancelBus(redis).close()


async def test_a_cancel_that_cannot_reach_redis_is_unavailable_not_an_internal_error() -> None:
    # Nothing listens on this port: Redis is down (stopped, restarting, partitioned away).
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    bus = RedisCancelBus(redis)
    try:
        with pytest.raises(Unavailable, match="Redis is unreachable; try again"):
            await bus.publish("some-run")
    finally:
        await redis.aclose()
