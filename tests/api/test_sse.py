from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fastapi import Depends, FastAPI
from starlette.types import Message, Receive, Scope, Send

from tandem.api import sse
from tandem.api.sse import EventStreamResponse, StreamHandOff, StreamLimits

PING = b": ping\n\n"
LIMITS = StreamLimits(backlog_bytes=1 << 20, stall_seconds=30)


class Client:
    """The ASGI side of one connection: what was sent to it, and whether it has left."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.left = asyncio.Event()

    async def receive(self) -> Message:
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def _pings(closed: asyncio.Event) -> AsyncIterator[bytes]:
    try:
        while True:
            yield PING
            await asyncio.sleep(0.2)
    finally:
        closed.set()


async def test_a_stream_lets_go_of_a_client_that_left_without_a_watcher_task() -> None:
    client, closed = Client(), asyncio.Event()
    response = EventStreamResponse(_pings(closed))
    # Tasks left running by earlier tests share the session's loop: count only the ones this stream adds.
    before = asyncio.all_tasks()
    serving = asyncio.create_task(response({"type": "http"}, client.receive, client.send))
    await asyncio.sleep(0.3)
    added_while_streaming = asyncio.all_tasks() - before
    client.left.set()

    await asyncio.wait_for(serving, 5)

    assert closed.is_set()
    # The stream's own task and nothing else per connection.
    assert added_while_streaming == {serving}, [task.get_coro() for task in added_while_streaming]
    assert client.sent[0]["type"] == "http.response.start"
    assert all(m["body"] == PING for m in client.sent[1:])


async def _silent(closed: asyncio.Event) -> AsyncIterator[bytes]:
    """One frame, then nothing: only a watcher can notice the client leaving."""
    try:
        yield PING
        await asyncio.Event().wait()
    finally:
        closed.set()


async def test_on_disconnect_runs_when_the_client_leaves_even_if_nothing_is_sent() -> None:
    client, closed, stopped = Client(), asyncio.Event(), asyncio.Event()

    async def stop() -> None:
        stopped.set()

    response = EventStreamResponse(_silent(closed), on_disconnect=stop)
    serving = asyncio.create_task(response({"type": "http"}, client.receive, client.send))
    await asyncio.sleep(0.1)
    client.left.set()

    await asyncio.wait_for(serving, 5)
    assert stopped.is_set()
    assert closed.is_set()


async def test_a_stream_starts_after_the_request_is_done_with_its_dependencies_closed() -> None:
    log: list[str] = []

    async def dependency() -> AsyncIterator[None]:
        yield
        log.append("dependency closed")

    async def frames() -> AsyncIterator[bytes]:
        log.append("streaming")
        yield PING

    app = FastAPI()

    @app.get("/stream", dependencies=[Depends(dependency)])
    async def stream() -> EventStreamResponse:
        return EventStreamResponse(frames())

    app.add_middleware(StreamHandOff, limits=LIMITS)
    client = Client()
    scope = {"type": "http", "method": "GET", "path": "/stream", "headers": [], "query_string": b""}

    await asyncio.wait_for(app(scope, client.receive, client.send), 5)

    assert log == ["dependency closed", "streaming"]
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body", "http.response.body"]
    assert client.sent[1]["body"] == PING


async def _frames(*frames: bytes) -> AsyncIterator[bytes]:
    for frame in frames:
        yield frame


def _body(chunk: bytes, more: bool) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": more}


def _stop_recorder(stopped: list[str]) -> Callable[[], Awaitable[None]]:
    async def stop() -> None:
        stopped.append("stopped")

    return stop


async def test_a_finished_stream_sends_an_event_stream_head_every_frame_and_the_end_of_the_body() -> None:
    client = Client()
    response = EventStreamResponse(_frames(b"a", b"b"), headers={"X-Run": "1"})

    await asyncio.wait_for(response({"type": "http"}, client.receive, client.send), 5)

    start, *bodies = client.sent
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-cache"
    assert headers[b"x-accel-buffering"] == b"no"
    assert headers[b"x-run"] == b"1"
    assert b"content-length" not in headers
    assert bodies == [_body(b"a", True), _body(b"b", True), _body(b"", False)]


async def test_a_stream_whose_client_stays_runs_to_its_end_without_calling_on_disconnect() -> None:
    client, stopped = Client(), list[str]()
    response = EventStreamResponse(_frames(b"a"), on_disconnect=_stop_recorder(stopped))

    await asyncio.wait_for(response({"type": "http"}, client.receive, client.send), 5)

    assert client.sent[1:] == [_body(b"a", True), _body(b"", False)]
    assert stopped == []


async def test_a_stream_checking_between_sends_keeps_a_client_that_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "_CHECK_SECONDS", 0.0)  # check after every send
    client = Client()
    response = EventStreamResponse(_frames(b"a", b"b", b"c"))

    await asyncio.wait_for(response({"type": "http"}, client.receive, client.send), 5)

    assert client.sent[1:] == [_body(b"a", True), _body(b"b", True), _body(b"c", True), _body(b"", False)]


async def test_a_broken_connection_counts_as_the_client_leaving() -> None:
    stopped: list[str] = []

    async def broken_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("connection reset")

    response = EventStreamResponse(_frames(b"a"), on_disconnect=_stop_recorder(stopped))

    await asyncio.wait_for(response({"type": "http"}, Client().receive, broken_send), 5)

    assert stopped == ["stopped"]


async def test_a_stream_cancelled_by_the_server_stays_cancelled() -> None:
    client, closed = Client(), asyncio.Event()
    serving = asyncio.create_task(EventStreamResponse(_silent(closed))({"type": "http"}, client.receive, client.send))
    await asyncio.sleep(0.05)

    serving.cancel()

    with pytest.raises(asyncio.CancelledError):
        await serving
    assert closed.is_set()


class _NoClose:
    """Frames from an iterator without `aclose`: nothing to close when the stream ends."""

    def __init__(self) -> None:
        self.frames = [b"a"]

    def __aiter__(self) -> _NoClose:
        return self

    async def __anext__(self) -> bytes:
        if not self.frames:
            raise StopAsyncIteration
        return self.frames.pop()


async def test_frames_without_aclose_are_streamed() -> None:
    client = Client()

    await asyncio.wait_for(EventStreamResponse(_NoClose())({"type": "http"}, client.receive, client.send), 5)

    assert client.sent[1:] == [_body(b"a", True), _body(b"", False)]


async def test_the_hand_off_passes_every_request_through_untouched() -> None:
    client, seen = Client(), list[tuple[Scope, Receive, Send]]()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    for scope in ({"type": "lifespan"}, {"type": "http"}):
        await StreamHandOff(app, limits=LIMITS)(scope, client.receive, client.send)

    assert seen == [({"type": "lifespan"}, client.receive, client.send), (seen[1][0], client.receive, client.send)]
    assert seen[1][0]["type"] == "http"


async def test_a_handed_off_stream_notices_its_client_leaving() -> None:
    client, closed, stopped = Client(), asyncio.Event(), list[str]()
    stop = _stop_recorder(stopped)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await EventStreamResponse(_silent(closed), on_disconnect=stop)(scope, receive, send)

    serving = asyncio.create_task(StreamHandOff(app, limits=LIMITS)({"type": "http"}, client.receive, client.send))
    await asyncio.sleep(0.05)
    client.left.set()

    await asyncio.wait_for(serving, 5)
    assert stopped == ["stopped"]
    assert closed.is_set()
