"""Delivering a cancel to the process that executes the run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tandem.errors import Unavailable

logger = logging.getLogger(__name__)

CANCEL_CHANNEL = "tandem:cancel"
CancelHandler = Callable[[str], object]


class CancelBus(Protocol):
    async def start(self, handler: CancelHandler) -> None: ...

    async def publish(self, run_id: str) -> None: ...

    async def close(self) -> None: ...


class LocalCancelBus:
    """One process: the run is here or nowhere."""

    def __init__(self) -> None:
        self._handler: CancelHandler | None = None

    async def start(self, handler: CancelHandler) -> None:
        self._handler = handler

    async def publish(self, run_id: str) -> None:
        if self._handler is not None:
            self._handler(run_id)

    async def close(self) -> None:
        self._handler = None


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
