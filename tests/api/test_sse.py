from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from starlette.types import Message

from tandem.api.sse import EventStreamResponse, StreamHandOff, StreamLimits

PING = b": ping\n\n"


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

    app.add_middleware(StreamHandOff, limits=StreamLimits(backlog_bytes=1 << 20, stall_seconds=30))
    client = Client()
    scope = {"type": "http", "method": "GET", "path": "/stream", "headers": [], "query_string": b""}

    await asyncio.wait_for(app(scope, client.receive, client.send), 5)

    assert log == ["dependency closed", "streaming"]
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body", "http.response.body"]
    assert client.sent[1]["body"] == PING
