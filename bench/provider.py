"""A cheap OpenAI-compatible chat-completions server for the benchmarks (issue 17): every bench token
goes through the real OpenAI SDK, pydantic-ai's OpenAI model and Tandem's pipeline.

    python -m bench.provider --port 8100

Not AI: it plays a fixed two-agent run. A directive in the conversation, `[provider tokens=N rate=R]`,
sets how many content chunks a run streams (half from the Planner, half from the Coder) and how many
per second (0: as fast as the connection takes them). Each content chunk is its CLOCK_MONOTONIC emit
time, `"12345.678901 "`, the stamp `bench/wire.py` reads (emit→parse latency, as with the scripted
model). Tool calls (`hand_off_to_coder`, `write_file`) stream as argument deltas, like a real server.
Tandem's model check (`save_note`, a plain question) gets the answers it asks for.

Cheap per token, so it is not the thing measured: one asyncio protocol per connection, no framework,
frames pre-encoded around the stamp, and one timer per rate for all paced streams (a tick writes the
next chunk of every stream due), not a task wake-up per token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import uvloop

DIRECTIVE = re.compile(r"\[provider tokens=(\d+) rate=([\d.]+)\]")
_CHUNK_HEAD = b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench","choices":'
_CONTENT_HEAD = _CHUNK_HEAD + b'[{"index":0,"delta":{"content":"'
_CONTENT_TAIL = b'"},"finish_reason":null}]}\n\n'
_USAGE = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
_BURST = 64
"""Chunks an unpaced stream writes before it lets other connections have the loop."""
_HIGH_WATER = 256 * 1024


def _frame(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    return _CHUNK_HEAD + orjson.dumps(choices) + (b"," + orjson.dumps(extra)[1:-1] if extra else b"") + b"}\n\n"


def _delta(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _frame([{"index": 0, "delta": delta, "finish_reason": finish}])


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


STAMP = object()
"""A step of a streamed answer: the next content chunk, stamped when it is written."""
Step = bytes | object


@dataclass(frozen=True)
class Answer:
    text: str | None = None
    stamped: int = 0
    """Stamped content chunks before the text/tool call."""
    call: tuple[str, dict[str, Any]] | None = None
    rate: float = 0.0
    """Stamped chunks per second (0: as fast as the connection takes them)."""


def answer(body: dict[str, Any]) -> Answer:
    """What a request gets: the step of the scripted run (or of the model check) it asks for."""
    tools = {tool["function"]["name"] for tool in body.get("tools") or []}
    messages = body["messages"]
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=0)
    results = sum(1 for m in messages[last_user:] if m["role"] == "tool")
    found = DIRECTIVE.search(str(messages[last_user].get("content")))
    tokens, rate = (int(found[1]), found[2]) if found else (0, "0")
    paced = float(rate)
    if not tools:
        return Answer(text="ready")
    if "save_note" in tools:
        return Answer(text="saved") if results else Answer(call=("save_note", {"note": "hello"}))
    if results:
        return Answer(text="Done.")
    if "hand_off_to_coder" in tools:
        plan = f"Append the notes. [provider tokens={tokens - tokens // 2} rate={rate}]"
        return Answer(stamped=tokens // 2, call=("hand_off_to_coder", {"plan": plan}), rate=paced)
    notes = {"path": "notes.md", "content": "benchmark notes\n"}
    return Answer(stamped=tokens, call=("write_file", notes), rate=paced)


def steps(reply: Answer) -> Iterator[Step]:
    """The streamed frames of an answer, `STAMP` where a stamped content chunk goes."""
    yield _delta({"role": "assistant", "content": ""})
    for _ in range(reply.stamped):
        yield STAMP
    if reply.text is not None:
        yield _delta({"content": reply.text})
    if reply.call is not None:
        name, arguments = reply.call
        head = {"index": 0, "id": "call_bench", "type": "function", "function": {"name": name, "arguments": ""}}
        yield _delta({"tool_calls": [head]})
        encoded = orjson.dumps(arguments).decode()
        for start in range(0, len(encoded), 16):
            yield _delta({"tool_calls": [{"index": 0, "function": {"arguments": encoded[start : start + 16]}}]})
    yield _delta({}, "tool_calls" if reply.call else "stop")
    yield _frame([], usage=_USAGE)
    yield b"data: [DONE]\n\n"


def completion(reply: Answer) -> bytes:
    """The non-streamed answer."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or ""}
    if reply.call is not None:
        name, arguments = reply.call
        call = {
            "id": "call_bench",
            "type": "function",
            "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
        }
        message["tool_calls"] = [call]
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.call else "stop"}
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "bench",
            "choices": [choice],
            "usage": _USAGE,
        }
    )


@dataclass(eq=False)
class Stream:
    """One streamed answer being written."""

    connection: Connection
    steps: Iterator[Step]

    def write(self, count: int) -> bool:
        """Write up to `count` chunks (a stamp counts one); False once the answer is complete."""
        out: list[bytes] = []
        for step in self.steps:
            if step is STAMP:
                out.append(_http_chunk(b"%s%.6f %s" % (_CONTENT_HEAD, time.monotonic(), _CONTENT_TAIL)))
                count -= 1
                if count <= 0:
                    self.connection.write(b"".join(out))
                    return True
            else:
                assert isinstance(step, bytes)
                out.append(_http_chunk(step))
        out.append(b"0\r\n\r\n")
        self.connection.write(b"".join(out))
        self.connection.answered()
        return False


@dataclass
class Pacer:
    """The streams sent at one rate: one timer ticks them all."""

    interval: float
    streams: set[Stream] = field(default_factory=set)
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        next_tick = time.monotonic()
        while self.streams:
            next_tick += self.interval
            for stream in list(self.streams):
                if stream.connection.closed or not stream.write(1):
                    self.streams.discard(stream)
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        self.task = None


PACERS: dict[float, Pacer] = {}


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.busy = False
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.set_write_buffer_limits(high=_HIGH_WATER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.closed:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.next_request()

    def answered(self) -> None:
        self.busy = False
        self.next_request()

    def next_request(self) -> None:
        if self.busy or b"\r\n\r\n" not in self.buffer:
            return
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
        length = int(headers.get(b"content-length", b"0"))
        if len(rest) < length:
            return
        self.buffer = rest[length:]
        self.busy = True
        method, path, _ = lines[0].split(b" ", 2)
        if method != b"POST" or not path.endswith(b"/chat/completions"):
            self.respond(404, b'{"error":{"message":"not found","type":"not_found"}}')
            return
        body = orjson.loads(rest[:length])
        reply = answer(body)
        if not body.get("stream"):
            self.respond(200, completion(reply))
            return
        self.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        stream = Stream(self, steps(reply))
        if reply.rate > 0 and reply.stamped:
            pacer = PACERS.setdefault(reply.rate, Pacer(1 / reply.rate))
            pacer.streams.add(stream)
            if pacer.task is None:
                pacer.task = asyncio.get_running_loop().create_task(pacer.run())
        else:
            asyncio.get_running_loop().create_task(self.unpaced(stream))

    async def unpaced(self, stream: Stream) -> None:
        while not self.closed and stream.write(_BURST):
            if self.drained is not None:
                await self.drained
            else:
                await asyncio.sleep(0)

    def respond(self, status: int, body: bytes) -> None:
        reason = b"OK" if status == 200 else b"Not Found"
        self.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (status, reason, len(body), body)
        )
        self.answered()


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Connection, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    with contextlib.suppress(KeyboardInterrupt):  # how the benchmark stops it
        uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
