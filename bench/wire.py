"""The benchmark client's wire layer: a minimal HTTP/1.1 client on raw asyncio streams and an SSE parser.

Why not httpx: at 100,000 events/s its per-chunk overhead would make the client, not the server,
the thing being measured. This client does the least a correct one must: it decodes chunked
transfer encoding, splits events on blank lines, reads `id:` and `data:` lines, ignores comments,
and decodes every event's JSON.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

_READ_SIZE = 256 * 1024
# The scripted model's benchmark deltas carry their emit time: `123.456789 ` (CLOCK_MONOTONIC, which
# every process on the machine shares). Tandem joins deltas that wait for the same write, so one
# `agent_delta` may hold many stamps (and words): each stamp is one chunk the model emitted.
STAMP = re.compile(r"(?<!\S)(\d+\.\d{6}) ")


@dataclass(slots=True)
class Event:
    id: int | None
    payload: dict[str, Any]


@dataclass
class SseParser:
    """Incremental SSE parser (LF line endings, as DESIGN §1 fixes): feed bytes, get whole events."""

    _rest: bytes = b""
    comments: int = 0

    def feed(self, data: bytes) -> list[Event]:
        *blocks, self._rest = (self._rest + data).split(b"\n\n")
        events: list[Event] = []
        for block in blocks:
            event = self._event(block)
            if event is not None:
                events.append(event)
        return events

    def _event(self, block: bytes) -> Event | None:
        event_id: int | None = None
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line.startswith(b"id:"):
                event_id = int(line[3:])
            elif line.startswith(b":"):
                self.comments += 1
        if not data:
            return None
        return Event(id=event_id, payload=orjson.loads(b"\n".join(data)))


@dataclass
class _Chunked:
    """Decodes a chunked HTTP body incrementally."""

    _buffer: bytearray = field(default_factory=bytearray)
    _need: int = -1  # bytes of the current chunk still to read (+2 for its CRLF); -1: expecting a size line
    done: bool = False

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while not self.done:
            if self._need < 0:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    break
                size = int(self._buffer[:end].split(b";", 1)[0], 16)
                del self._buffer[: end + 2]
                if size == 0:
                    self.done = True
                    break
                self._need = size + 2
            if len(self._buffer) < self._need:
                break
            out += self._buffer[: self._need - 2]
            del self._buffer[: self._need]
            self._need = -1
        return bytes(out)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    _initial: bytes

    async def body_chunks(self) -> AsyncIterator[bytes]:
        """The decoded body, as it arrives."""
        chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        length = int(self.headers.get("content-length", "-1"))
        decoder = _Chunked()
        data = self._initial
        received = 0
        while True:
            if data:
                received += len(data)
                piece = decoder.feed(data) if chunked else data
                if piece:
                    yield piece
            if (chunked and decoder.done) or (not chunked and 0 <= length <= received):
                return
            data = await self.reader.read(_READ_SIZE)
            if not data:
                return

    async def events(self, parser: SseParser | None = None) -> AsyncIterator[tuple[list[Event], float]]:
        """Batches of parsed events, each with the monotonic time right after it was parsed."""
        parser = parser or SseParser()
        async for piece in self.body_chunks():
            events = parser.feed(piece)
            if events:
                yield events, time.monotonic()

    async def read_all(self) -> bytes:
        return b"".join([piece async for piece in self.body_chunks()])

    def close(self) -> None:
        self.writer.close()


async def request(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Send one request on a new connection and read the status line and headers."""
    reader, writer = await asyncio.open_connection(host, port, limit=_READ_SIZE * 4)
    payload = orjson.dumps(body) if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
    head = b""
    while b"\r\n\r\n" not in head:
        data = await reader.read(_READ_SIZE)
        if not data:
            raise ConnectionError(f"{method} {path}: connection closed before the response headers")
        head += data
    head, initial = head.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Response(
        status=int(status_line.split(" ", 2)[1]), headers=parsed, reader=reader, writer=writer, _initial=initial
    )
