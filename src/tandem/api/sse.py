"""Server-Sent Events straight onto the ASGI `send`: frames arrive pre-encoded from the event log,
so the hot path is one `send` per batch and nothing else (DESIGN §7 has the measurements).

A stream outlives the request that opened it by minutes, so it is handed off: the route validates
and returns an `EventStreamResponse`, the framework finishes the request (dependencies closed,
per-request state freed), and `StreamHandOff`, a middleware outside all of the framework's, streams it. Idle
viewers then hold ~10 KB less each (bench/README.md, idle scenario).

A client that falls behind is bounded, and one that stops reading is dropped (issue 10): while more
than `backlog_bytes` it has not taken sit in the server's write buffer and the kernel's send queue,
the stream sends nothing more; if that lasts `stall_seconds`, or a `send` waits that long, the
connection is reset. The client can re-attach with `Last-Event-ID`; the run goes on and its events
are in the log and the database. Before, 1,000 stalled streams of one run held 2.6 GB or more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.api.connection import Connection, connection_of

logger = logging.getLogger(__name__)

_CHECK_SECONDS = 1.0
_FIRST_PAUSE, _LAST_PAUSE = 0.01, 1.0
_HAND_OFF = "tandem.event_stream"


@dataclass(frozen=True, kw_only=True)
class StreamLimits:
    backlog_bytes: int
    stall_seconds: float


class _Dropped(Exception):
    """The client stopped reading; the stream lets it go."""


SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        headers: dict[str, str] | None = None,
        on_disconnect: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        super().__init__(status_code=200, headers={**SSE_HEADERS, **(headers or {})}, media_type=self.media_type)
        # The base class declares an empty body; a stream has no length.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._frames = frames
        self._on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handed_off: list[EventStreamResponse] | None = scope.get(_HAND_OFF)
        if handed_off is not None:
            handed_off.append(self)
            return
        await self.stream(receive, send)

    async def stream(
        self, receive: Receive, send: Send, *, limits: StreamLimits | None = None, connection: Connection | None = None
    ) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        loop = asyncio.get_running_loop()
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            streaming.cancel()

        # A stream whose run stops when its client leaves gets a task that notices at once. The
        # others (thousands of idle viewers, each task costs memory) check between sends instead:
        # idle streams send a ping every 15 s, so a gone viewer is let go within one ping.
        watcher = asyncio.create_task(watch()) if self._on_disconnect is not None else None
        checked = loop.time()
        finished = False
        dropped = False
        try:
            await _deliver(
                send,
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers},
                limits,
                connection,
            )
            async for chunk in self._frames:
                await _deliver(
                    send, {"type": "http.response.body", "body": chunk, "more_body": True}, limits, connection
                )
                if watcher is None and loop.time() - checked >= _CHECK_SECONDS:
                    checked = loop.time()
                    if gone := await _disconnected(receive):
                        break
            else:
                finished = True
                await _deliver(
                    send, {"type": "http.response.body", "body": b"", "more_body": False}, limits, connection
                )
        except _Dropped as reason:
            # Not the client leaving: a stream asked to cancel its run on disconnect leaves the run be.
            dropped = True
            logger.info("dropped a stream whose client stopped reading: %s", reason)
        except asyncio.CancelledError:
            if not gone:
                raise
            streaming.uncancel()
        except OSError:
            gone = True
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            close = getattr(self._frames, "aclose", None)
            if close is not None:
                await close()
        if dropped:
            await _drop(connection, receive)
        elif gone and not finished and self._on_disconnect is not None:
            await self._on_disconnect()


async def _deliver(send: Send, message: Message, limits: StreamLimits | None, connection: Connection | None) -> None:
    """`send`, unless the client is too far behind (`_Dropped`). A function, not a closure: every
    idle stream would keep one."""
    if limits is None:
        await send(message)
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.stall_seconds
    if connection is not None:
        pause = _FIRST_PAUSE
        while (unsent := connection.unsent_bytes()) > limits.backlog_bytes:
            if loop.time() >= deadline:
                raise _Dropped(
                    f"{unsent} bytes it has not taken, over TANDEM_STREAM_BACKLOG_BYTES "
                    f"({limits.backlog_bytes}) for TANDEM_STREAM_STALL_SECONDS ({limits.stall_seconds:g})"
                )
            # Polled, backing off: a task per stream to be woken instead would cost idle viewers memory.
            await asyncio.sleep(min(pause, deadline - loop.time()))
            pause = min(2 * pause, _LAST_PAUSE)
        if not connection.may_pause():
            await send(message)  # the server makes `send` wait only while the transport is paused
            return
    try:
        async with asyncio.timeout_at(deadline):
            await send(message)
    except TimeoutError:
        raise _Dropped(f"a write waited TANDEM_STREAM_STALL_SECONDS ({limits.stall_seconds:g}) for it") from None


async def _drop(connection: Connection | None, receive: Receive) -> None:
    """Close the connection without flushing what the client never read. Under a server that gives
    no `Connection`, returning unfinished makes it close the connection, gracefully."""
    if connection is None:
        return
    connection.abort()
    # Let the server see the connection lost before the response returns unfinished (else it logs that).
    try:
        async with asyncio.timeout(1):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass


async def _disconnected(receive: Receive) -> bool:
    """Whether the client has left, without waiting: the server answers `receive` at once if so."""
    pending = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    if not pending.done():
        pending.cancel()
        return False
    return bool(pending.result()["type"] == "http.disconnect")


class StreamHandOff:
    """Streams the `EventStreamResponse` a request returned once the app (all inner middleware) is done with it."""

    def __init__(self, app: ASGIApp, *, limits: StreamLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        handed_off: list[EventStreamResponse] = []
        # A list, not a flag: middleware may copy the scope, but they all share this one object.
        scope[_HAND_OFF] = handed_off
        await self.app(scope, receive, send)
        if handed_off:
            await handed_off[0].stream(receive, send, limits=self.limits, connection=connection_of(scope))
