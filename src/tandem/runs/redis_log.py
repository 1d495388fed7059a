"""Run event logs in Redis Streams, so any process can serve any run.

One stream per run, `tandem:run:<run_id>`, entry ids `<seq>-0` so a stream id *is* the contract's
seq. The terminal entry carries `end`; the stream expires `retention` seconds after it. Each
process mirrors a run it is asked for into its in-process log with one blocking `XREAD` loop, so a
thousand viewers of one run cost one Redis connection, not a thousand. If Redis is unreachable the
log says it lacks the run and streams fall back to the database, which has every event anyway
(events are persisted before they are published).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tandem.runs.eventlog import Batch, Entry, InProcessEventLog

logger = logging.getLogger(__name__)

_BLOCK_SECONDS = 2.0
"""How long a mirror's XREAD waits for entries. A blocking read must come back (empty) before the
client's socket timeout (redis-py's default: 5 s) cuts it short: that broke the mirror of every run
silent for that long and sent its viewers to poll the database."""

# redis-py's stubs type replies as a union of every protocol shape; with RESP2 (our connection)
# stream replies have exactly these shapes.
_StreamEntry = tuple[bytes, dict[bytes, bytes]]
_XReadReply = list[tuple[bytes, list[_StreamEntry]]]


def _seq(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


def stream_key(run_id: str) -> str:
    return f"tandem:run:{run_id}"


class RedisEventLog:
    def __init__(self, redis: Redis, *, retention: float) -> None:
        self._redis = redis
        self._retention = retention
        self._local = InProcessEventLog(retention=retention)
        self._mirrors: dict[str, asyncio.Task[None]] = {}
        self._closing = False
        socket_timeout: float | None = redis.connection_pool.connection_kwargs.get("socket_timeout")
        self._block_ms = int(1000 * min(_BLOCK_SECONDS, socket_timeout / 2 if socket_timeout else _BLOCK_SECONDS))

    def open(self, run_id: str) -> None:
        self._local.open(run_id)

    async def append(self, run_id: str, entries: list[Entry], *, closed: bool = False) -> None:
        # A mirrored run's local log is the mirror's to fill: it may be behind Redis, and these
        # entries (a survivor ending a dead process's run) reach it through Redis, in order.
        if self._local.holds(run_id) and run_id not in self._mirrors:
            await self._local.append(run_id, entries, closed=closed)
        key = stream_key(run_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for index, (seq, frame) in enumerate(entries):
                    fields: dict[bytes | str, bytes | str] = {"f": frame}
                    if closed and index == len(entries) - 1:
                        fields["end"] = "1"
                    pipe.xadd(key, fields, id=f"{seq}-0")  # type: ignore[arg-type]
                if closed:
                    pipe.expire(key, max(1, int(self._retention)))
                await pipe.execute()
        except RedisError as error:
            # Local readers already have the frames; remote ones fall back to the database.
            logger.warning("publishing run %s to Redis failed: %s", run_id, error)

    async def has(self, run_id: str) -> bool:
        if self._local.holds(run_id):
            return True
        try:
            return bool(await self._redis.exists(stream_key(run_id)))
        except RedisError:
            return False

    async def last_seq(self, run_id: str) -> int | None:
        try:
            last = cast(list[_StreamEntry], await self._redis.xrevrange(stream_key(run_id), count=1))
        except RedisError:
            return None
        return _seq(last[0][0]) if last else None

    async def read(self, run_id: str, after: int, *, timeout: float, max_bytes: int | None = None) -> Batch | None:
        if not self._local.holds(run_id):
            if not await self.has(run_id):
                return None
            self._local.open(run_id)
            self._mirrors[run_id] = asyncio.create_task(self._mirror(run_id), name=f"mirror-{run_id}")
        return await self._local.read(run_id, after, timeout=timeout, max_bytes=max_bytes)

    async def _mirror(self, run_id: str) -> None:
        key, last = stream_key(run_id), "0-0"
        try:
            while not self._closing:
                response = cast(_XReadReply, await self._redis.xread({key: last}, count=1000, block=self._block_ms))
                if not response:
                    if not await self._redis.exists(key):
                        break
                    continue
                entries = response[0][1]
                last = entries[-1][0].decode()
                closed = b"end" in entries[-1][1]
                batch = [(_seq(entry_id), fields[b"f"]) for entry_id, fields in entries]
                await self._local.append(run_id, batch, closed=closed)
                if closed:
                    return
        except (RedisError, ValueError) as error:
            logger.warning("following run %s in Redis failed: %s", run_id, error)
        finally:
            self._mirrors.pop(run_id, None)
        # The stream vanished or broke before its end: readers fall back to the database.
        self._local.drop(run_id)

    async def close(self) -> None:
        # Cancelling a mirror is not enough: on Python 3.11 redis-py's `wait_for` around a command's send
        # can swallow the cancellation (tests/runs/test_redis_log.py), and the mirror would follow its run
        # to the end. The flag ends it at its next read, within `_block_ms`.
        self._closing = True
        for task in list(self._mirrors.values()):
            task.cancel()
        await asyncio.gather(*self._mirrors.values(), return_exceptions=True)
        await self._local.close()
        with contextlib.suppress(RedisError):
            await self._redis.aclose()
