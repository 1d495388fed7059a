from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tandem.errors import Unavailable
from tandem.runs.cancellation import RedisCancelBus
from tests.support import free_port


async def test_a_cancel_that_cannot_reach_redis_is_unavailable_not_an_internal_error() -> None:
    # Nothing listens on this port: Redis is down (stopped, restarting, partitioned away).
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    bus = RedisCancelBus(redis)
    try:
        with pytest.raises(Unavailable, match="Redis is unreachable; try again"):
            await bus.publish("some-run")
    finally:
        await redis.aclose()
