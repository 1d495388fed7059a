"""Event logs: each live run's SSE frames, for streams to follow.

One writer per run (the run's task) appends frames that are already in the database; any number
of streams read. `InProcessEventLog` serves one process; `RedisEventLog` (Redis Streams) lets any
process serve any run. A finished run's log is kept for `retention` seconds, then the database
serves replays.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

Entry = tuple[int, bytes]
"""An event's seq and its SSE frame."""


@dataclass(frozen=True, kw_only=True)
class Batch:
    frames: list[bytes]
    closed: bool
    """True when `frames` reach the end of a log that has its terminal event: nothing more will come."""


class EventLog(Protocol):
    def open(self, run_id: str) -> None: ...

    async def append(self, run_id: str, entries: list[Entry], *, closed: bool = False) -> None: ...

    async def read(self, run_id: str, after: int, *, timeout: float, max_bytes: int | None = None) -> Batch | None:
        """Frames after seq `after`, waiting up to `timeout` for some; None if this log lacks the run.

        With `max_bytes`, the first frames that fit in it (at least one): a reader far behind gets
        its backlog in bounded pieces, not a copy of the whole log."""
        ...

    async def has(self, run_id: str) -> bool: ...

    async def last_seq(self, run_id: str) -> int | None:
        """The newest seq this log holds for the run; None if it holds none."""
        ...

    async def close(self) -> None: ...


@dataclass(eq=False)
class _Log:
    frames: list[bytes] = field(default_factory=list)
    closed: bool = False
    waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        self.waiter = None


def _fitting(frames: list[bytes], start: int, max_bytes: int) -> int:
    """The end of the run of frames from `start` that fits in `max_bytes` (at least one frame)."""
    end, size = start, 0
    while end < len(frames) and (end == start or size + len(frames[end]) <= max_bytes):
        size += len(frames[end])
        end += 1
    return end


class InProcessEventLog:
    def __init__(self, *, retention: float) -> None:
        self._logs: dict[str, _Log] = {}
        self._retention = retention

    def open(self, run_id: str) -> None:
        self._logs.setdefault(run_id, _Log())

    def drop(self, run_id: str) -> None:
        """Forget a run; its readers wake and find it gone."""
        log = self._logs.pop(run_id, None)
        if log is not None:
            log.wake()

    async def append(self, run_id: str, entries: list[Entry], *, closed: bool = False) -> None:
        log = self._logs[run_id]
        if entries and entries[0][0] != len(log.frames) + 1:
            raise ValueError(f"run {run_id}: seq {entries[0][0]} after {len(log.frames)} would leave a gap")
        log.frames.extend(frame for _, frame in entries)
        log.closed = closed
        log.wake()
        if closed:
            asyncio.get_running_loop().call_later(self._retention, self._expire, run_id, log)

    def _expire(self, run_id: str, log: _Log) -> None:
        if self._logs.get(run_id) is log:
            del self._logs[run_id]

    async def has(self, run_id: str) -> bool:
        return run_id in self._logs

    def holds(self, run_id: str) -> bool:
        return run_id in self._logs

    async def last_seq(self, run_id: str) -> int | None:
        log = self._logs.get(run_id)
        return len(log.frames) if log is not None and log.frames else None

    async def read(self, run_id: str, after: int, *, timeout: float, max_bytes: int | None = None) -> Batch | None:
        log = self._logs.get(run_id)
        if log is None:
            return None
        if len(log.frames) <= after and not log.closed:
            if log.waiter is None:
                log.waiter = asyncio.get_running_loop().create_future()
            # `wait`, not `wait_for(shield(...))`: no extra future per idle stream, and the shared
            # waiter is never cancelled by one reader's timeout.
            await asyncio.wait((log.waiter,), timeout=timeout)
        if self._logs.get(run_id) is not log:
            return None
        end = len(log.frames) if max_bytes is None else _fitting(log.frames, after, max_bytes)
        return Batch(frames=log.frames[after:end], closed=log.closed and end == len(log.frames))

    async def close(self) -> None:
        self._logs.clear()
