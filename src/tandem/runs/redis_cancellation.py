"""Cancels through Redis pub/sub, for several processes sharing one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tandem.errors import Unavailable
from tandem.runs.cancellation import CANCEL_CHANNEL, CancelHandler

logger = logging.getLogger(__name__)


class RedisCancelBus:
    """Every process subscribes; the one executing the run stops it, the others ignore it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._listener: asyncio.Task[None] | None = None

    async def start(self, handler: CancelHandler) -> None:
        ready = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(handler, ready), name="cancel-listener")
        await asyncio.wait_for(ready.wait(), 10)

    async def _listen(self, handler: CancelHandler, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CANCEL_CHANNEL)
                    ready.set()
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            handler(message["data"].decode())
            except RedisError as error:
                ready.set()
                logger.warning("cancel subscription lost (%s); resubscribing", error)
                await asyncio.sleep(1)

    async def publish(self, run_id: str) -> None:
        try:
            await self._redis.publish(CANCEL_CHANNEL, run_id)
        except RedisError as error:
            logger.warning("publishing the cancel of run %s failed: %s", run_id, error)
            raise Unavailable(
                f"the cancel could not reach the process running run {run_id}: Redis is unreachable; try again"
            ) from None

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
