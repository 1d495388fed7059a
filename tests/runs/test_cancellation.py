"""Cancel buses: a cancel reaches the process executing the run (one process, or any over Redis)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tandem.errors import Unavailable
from tandem.runs.cancellation import CANCEL_CHANNEL, LocalCancelBus
from tandem.runs.redis_cancellation import RedisCancelBus
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


async def test_a_cancel_that_cannot_reach_redis_is_unavailable_not_an_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on this port: Redis is down (stopped, restarting, partitioned away).
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    bus = RedisCancelBus(redis)
    try:
        with pytest.raises(Unavailable) as unavailable, caplog.at_level(logging.WARNING):
            await bus.publish("some-run")
        assert unavailable.value.message == (
            "the cancel could not reach the process running run some-run: Redis is unreachable; try again"
        )
        assert caplog.records[0].getMessage().startswith("publishing the cancel of run some-run failed: Error ")
    finally:
        await redis.aclose()


async def test_a_bus_resubscribes_after_redis_drops_its_subscription(
    redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"cancel-test-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(REDIS_URL, client_name=name)
    bus, seen = RedisCancelBus(client), Received()
    try:
        await bus.start(seen)
        with caplog.at_level(logging.WARNING, logger="tandem.runs.cancellation"):
            # Only this bus's subscription: the suite's Redis is shared.
            ours = [c["id"] for c in await redis.client_list() if c["name"] == name and "subscribe" in c["cmd"]]
            assert len(ours) == 1
            await redis.client_kill_filter(_id=ours[0])
            run_id = str(uuid.uuid4())
            for _ in range(100):  # until the bus has resubscribed
                await redis.publish(CANCEL_CHANNEL, run_id)
                if run_id in seen.ids:
                    break
                await asyncio.sleep(0.1)
        assert run_id in seen.ids
        assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["cancel subscription lost"]
        assert caplog.records[0].getMessage().endswith("); resubscribing")
    finally:
        await bus.close()
        await client.aclose()


async def test_a_bus_starts_while_redis_is_down_and_keeps_trying(caplog: pytest.LogCaptureFixture) -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    bus = RedisCancelBus(redis)
    try:
        with caplog.at_level(logging.WARNING, logger="tandem.runs.cancellation"):
            await asyncio.wait_for(bus.start(lambda _run_id: None), 30)
        assert caplog.records[0].getMessage().startswith("cancel subscription lost (Error ")
    finally:
        await bus.close()
        await redis.aclose()
