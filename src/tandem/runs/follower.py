"""The follower: a run's events as SSE bytes, from the event log while it has the run, else from
the database, live until the terminal event, with pings while nothing happens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator

from tandem.events import PING_FRAME, TERMINAL_TYPES, sse_frame
from tandem.runs.eventlog import EventLog
from tandem.runs.store import RunStore

STREAM_CHUNK_BYTES = 64 * 1024
"""The most a stream hands to one `send`. A reader far behind (a replay, a client that stopped
reading) holds one such piece at a time, never its own copy of the whole log (issue 10)."""
_DB_POLL_SECONDS = 0.25


class Follower:
    def __init__(self, *, store: RunStore, log: EventLog, ping_seconds: float) -> None:
        self._store = store
        self._log = log
        self._ping_seconds = ping_seconds

    async def follow(self, run_id: str, after: int = 0) -> AsyncIterator[bytes]:
        """SSE bytes of the events after seq `after`, live, until the terminal event; pings when idle.

        Each turn asks the log first: a live run's log wakes us at once. A log that lacks the run
        (it ended here long ago, or runs elsewhere without a shared log) sends us to the
        database, polled; if the run goes live here meanwhile, the next turn finds it in the log."""
        idle = 0.0
        while True:
            batch = await self._log.read(run_id, after, timeout=self._ping_seconds, max_bytes=STREAM_CHUNK_BYTES)
            if batch is not None and batch.frames:
                after += len(batch.frames)
                for chunk in _chunks(batch.frames):
                    yield chunk
                continue
            if batch is not None and batch.closed:
                return
            # The log lacks the run, or has been silent for a ping interval: ask the database, which
            # has every event and alone knows of a run ended by a process that could not publish the
            # end (it died, or the log was unreachable), which the log would wait for for ever.
            page = await self._store.events_after(run_id, after)
            if page.rows:
                idle = 0.0
                after = page.rows[-1].seq
                for chunk in _chunks(sse_frame(row.seq, row.payload) for row in page.rows):
                    yield chunk
                if page.rows[-1].type in TERMINAL_TYPES:
                    return
                continue
            if not page.running:
                return
            if batch is not None:
                yield PING_FRAME
                continue
            await asyncio.sleep(_DB_POLL_SECONDS)
            idle += _DB_POLL_SECONDS
            if idle >= self._ping_seconds:
                idle = 0.0
                yield PING_FRAME


def _chunks(frames: Iterable[bytes]) -> Iterator[bytes]:
    """Frames joined into pieces of at most `STREAM_CHUNK_BYTES`; a bigger frame is cut (SSE is a byte stream)."""
    group: list[bytes] = []
    size = 0
    for frame in frames:
        if group and size + len(frame) > STREAM_CHUNK_BYTES:
            yield b"".join(group)
            group, size = [], 0
        if len(frame) > STREAM_CHUNK_BYTES:
            for start in range(0, len(frame), STREAM_CHUNK_BYTES):
                yield frame[start : start + STREAM_CHUNK_BYTES]
            continue
        group.append(frame)
        size += len(frame)
    if group:
        yield b"".join(group)
