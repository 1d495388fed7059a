"""Server-Sent Events straight onto the ASGI `send`: frames arrive pre-encoded from the event log,
so the hot path is one `send` per batch and nothing else (DESIGN §7 has the measurements).

A stream outlives the request that opened it by minutes, so it is handed off: the route validates
and returns an `EventStreamResponse`, the framework finishes the request (dependencies closed,
per-request state freed), and `StreamHandOff`, a middleware outside all of the framework's, streams it. Idle
viewers then hold ~10 KB less each (bench/README.md, idle scenario).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

_CHECK_SECONDS = 1.0
_HAND_OFF = "tandem.event_stream"

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

    async def stream(self, receive: Receive, send: Send) -> None:
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

        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        # A stream whose run stops when its client leaves gets a task that notices at once. The
        # others (thousands of idle viewers, each task costs memory) check between sends instead:
        # idle streams send a ping every 15 s, so a gone viewer is let go within one ping.
        watcher = asyncio.create_task(watch()) if self._on_disconnect is not None else None
        checked = loop.time()
        finished = False
        try:
            async for chunk in self._frames:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if watcher is None and loop.time() - checked >= _CHECK_SECONDS:
                    checked = loop.time()
                    if gone := await _disconnected(receive):
                        break
            else:
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
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
        if gone and not finished and self._on_disconnect is not None:
            await self._on_disconnect()


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

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        handed_off: list[EventStreamResponse] = []
        # A list, not a flag: middleware may copy the scope, but they all share this one object.
        scope[_HAND_OFF] = handed_off
        await self.app(scope, receive, send)
        if handed_off:
            await handed_off[0].stream(receive, send)
