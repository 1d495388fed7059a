"""What ASGI does not give an app: caps applied while a request is parsed, and a handle on its connection.

`tandem serve` runs uvicorn with `http_protocol(...)`, its httptools protocol plus:
- request heads (request line and headers) larger than `TANDEM_MAX_HEADER_BYTES` are refused with
  431 before they are buffered whole (httptools itself has no limit: a 100 MB header was accepted);
- past `TANDEM_MAX_CONNECTIONS` concurrent connections or requests, 503 naming the setting (uvicorn's
  own `--limit-concurrency` answers in plain text and refuses at the limit, not past it);
- each request's scope carries its `Connection` (extension `tandem.connection`), so a stream can see
  how much its client has not taken and drop a client that stopped reading (`api/sse.py`).
Run under another server, the app works without them: streams then drop a stalled client only by
time, with a graceful close.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import struct
from collections.abc import MutableMapping
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tandem.api.errors import ErrorBody, error_response

logger = logging.getLogger(__name__)

EXTENSION = "tandem.connection"
# Linux's SIOCOUTQNSD: bytes in a TCP socket's send queue not sent yet. Unlike SIOCOUTQ it leaves
# out data in flight, so a distant client reading at full speed is not mistaken for a stalled one.
_SIOCOUTQNSD = 0x894B
_INT = struct.Struct("i")
_LINGER_RESET = struct.pack("ii", 1, 0)  # on, 0 s: close() sends RST and drops the send queue


class Connection:
    """One client connection: how far behind its reader is, and a way to drop it at once."""

    __slots__ = ("_fd", "_low_water", "_socket", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._low_water = transport.get_write_buffer_limits()[0]
        self._socket: socket.socket | None = transport.get_extra_info("socket")
        self._fd: int = self._socket.fileno() if self._socket is not None else -1

    def may_pause(self) -> bool:
        """Whether writing may be paused: a transport pauses over its high-water mark and resumes
        only at its low-water mark, so below that it is surely not paused."""
        return self._transport.get_write_buffer_size() > self._low_water

    def unsent_bytes(self) -> int:
        """Bytes written to the connection that have not left this machine: the server's write buffer
        and the kernel's send queue. They grow only while the client does not read."""
        unsent = self._transport.get_write_buffer_size()
        if self._fd >= 0:
            try:
                unsent += _INT.unpack(fcntl.ioctl(self._fd, _SIOCOUTQNSD, b"\0\0\0\0"))[0]
            except OSError:
                self._fd = -1  # not Linux, or not TCP: the write buffer alone
        return unsent

    def abort(self) -> None:
        """Reset the connection, discarding what is buffered here and in the kernel: a graceful close
        would keep it all until a client that does not read took it."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self._transport.abort()


def connection_of(scope: Scope) -> Connection | None:
    extension = scope.get("extensions", {}).get(EXTENSION)
    connection = extension.get("connection") if extension else None
    return connection if isinstance(connection, Connection) else None


def http_protocol(*, max_header_bytes: int, max_connections: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with Tandem's caps; pass it as uvicorn's `http`."""

    async def overloaded(scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            f"the server is at its limit of {max_connections} concurrent connections "
            "(TANDEM_MAX_CONNECTIONS); try again shortly"
        )
        response = error_response(503, "overloaded", message)
        response.headers["Retry-After"] = "1"
        response.headers["Connection"] = "close"
        await response(scope, receive, send)

    class TandemHttpProtocol(HttpToolsProtocol):
        # Slots: new attributes in the instance dict would unshare its keys (+1.3 KB per connection).
        __slots__ = ("_extensions", "_head_bytes", "_head_chunks", "_head_too_large", "_heads", "_in_head")

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # One per connection, shared by its requests' scopes.
            self._extensions: dict[str, dict[object, object]] = {EXTENSION: {"connection": Connection(transport)}}
            self._head_bytes = 0  # of the request head being read, as parsed
            self._head_chunks = 0  # of the request head being read, as received in reads holding only head
            self._in_head = True
            self._heads = 0  # heads parsed on this connection
            self._head_too_large = False

        def data_received(self, data: bytes) -> None:
            if self._head_too_large:
                return  # refused and closing: the rest is not read
            in_head, heads = self._in_head, self._heads
            super().data_received(data)
            if in_head and self._heads == heads and not self._head_too_large:
                # All of it was head (no head ended in it). httptools buffers a header until it is
                # complete, so count what arrives, not only what it parsed.
                self._head_chunks += len(data)
                if self._head_chunks > max_header_bytes:
                    self._head_too_large = True
                    self.send_400_response("")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            scope: MutableMapping[str, Any] = self.scope  # type: ignore[assignment]
            scope["extensions"] = self._extensions

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value) + 4)
            super().on_header(name, value)

        def _count_head(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > max_header_bytes:
                self._head_too_large = True
                # httptools turns this into a parser error; uvicorn then answers with `send_400_response`.
                raise ValueError("request head too large")

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._heads += 1
            if len(self.connections) > max_connections or len(self.tasks) >= max_connections:
                logger.warning("refused a request: %d connections (TANDEM_MAX_CONNECTIONS)", len(self.connections))
                # uvicorn starts `self.app` for the request: this one request gets the refusal instead.
                app, self.app = self.app, overloaded
                try:
                    super().on_headers_complete()
                finally:
                    self.app = app
                return
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._head_bytes = self._head_chunks = 0
            self._in_head = True

        def send_400_response(self, msg: str) -> None:
            if not self._head_too_large:
                super().send_400_response(msg)
                return
            logger.warning("refused a request head over %d bytes (TANDEM_MAX_HEADER_BYTES)", max_header_bytes)
            body = ErrorBody(
                code="headers_too_large",
                message=f"the request line and headers are larger than {max_header_bytes} bytes "
                "(TANDEM_MAX_HEADER_BYTES)",
            ).model_dump_json()
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body.encode())
            )
            self.transport.close()

    return TandemHttpProtocol
