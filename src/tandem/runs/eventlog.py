"""The in-process event log: each live run's SSE frames in memory, for streams to follow.

One writer per run (the run's task) appends; any number of streams read. A finished run's log
stays for `retention` seconds so late re-attaches replay from memory, then the database serves them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Log:
    frames: list[bytes] = field(default_factory=list)
    closed: bool = False
    waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        self.waiter = None


@dataclass(frozen=True, kw_only=True)
class Batch:
    frames: list[bytes]
    closed: bool
    """True when the terminal event is in `frames` or was returned before: nothing more will come."""


class InProcessEventLog:
    def __init__(self, *, retention: float) -> None:
        self._logs: dict[str, _Log] = {}
        self._retention = retention

    def open(self, run_id: str) -> None:
        self._logs[run_id] = _Log()

    async def append(self, run_id: str, frames: list[bytes], *, closed: bool = False) -> None:
        log = self._logs[run_id]
        log.frames.extend(frames)
        log.closed = closed
        log.wake()
        if closed:
            asyncio.get_running_loop().call_later(self._retention, self._logs.pop, run_id, None)

    def has(self, run_id: str) -> bool:
        return run_id in self._logs

    async def read(self, run_id: str, after: int, *, timeout: float) -> Batch | None:
        """Frames after seq `after`, waiting up to `timeout` for some; None if the run is not here."""
        log = self._logs.get(run_id)
        if log is None:
            return None
        if len(log.frames) <= after and not log.closed:
            if log.waiter is None:
                log.waiter = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(log.waiter), timeout)
        return Batch(frames=log.frames[after:], closed=log.closed)
