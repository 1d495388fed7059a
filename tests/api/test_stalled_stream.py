"""A client that stops reading is dropped, and loses nothing: it re-attaches and reads the whole run.

Real server, raw sockets: the stalled client sends its request and never reads, so its receive
buffer, the server's send queue and uvicorn's write buffer fill. The run's events are made large
(tool results of big files) so that happens within a few events.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.support import Server, read_events

ServerFactory = Callable[..., Server]
pytestmark = pytest.mark.timeout(120)

_TCP_CLOSE = 7  # tcpi_state after a reset; a graceful close leaves CLOSE_WAIT (8)
_BIG = 900_000


def _tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def _stalled_request(server: Server, request: bytes) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(request)
    return sock


async def _wait_closed(sock: socket.socket) -> int:
    """The socket's TCP state once it leaves ESTABLISHED (or after a minute)."""
    for _ in range(600):
        if (state := _tcp_state(sock)) != 1:
            return state
        await asyncio.sleep(0.1)
    return _tcp_state(sock)


async def _project_with_big_files(client: httpx.AsyncClient, size: int) -> int:
    """The scripted Planner reads the first file listed, the Coder reads and rewrites the notes file:
    each becomes an event of about `size` bytes (tool results and arguments stream in full)."""
    project_id = int((await client.post("/projects", json={"name": "big"})).json()["id"])
    for path in ("AAA.md", "TANDEM_NOTES.md"):
        content = f"{path}\n" + "".join(f"line {i:07d} ünïcode ✓\n" for i in range(size // 27))
        assert (await client.put(f"/projects/{project_id}/files/{path}", json={"content": content})).status_code == 200
    return project_id


async def _active_run(client: httpx.AsyncClient, project_id: int) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run_id = (await client.get(f"/projects/{project_id}")).json()["active_run_id"]
        if run_id is not None:
            return str(run_id)
        await asyncio.sleep(0.02)
    raise AssertionError("the run did not start")


async def _reattach_reads_everything(client: httpx.AsyncClient, run_id: str, project_id: int) -> None:
    """Another client re-attaches after the first event and reads the rest gap-free to `complete`."""
    async with client.stream("GET", f"/runs/{run_id}/stream", headers={"Last-Event-ID": "1"}) as response:
        assert response.status_code == 200
        events = [event async for event in read_events(response)]
    assert [e.id for e in events] == list(range(2, len(events) + 2))
    assert events[-1].type == "complete"
    run = (await client.get(f"/runs/{run_id}")).json()
    assert run["status"] == "completed"
    assert run["last_seq"] == events[-1].id
    # The big events arrive whole although the server sends them in pieces.
    notes = (await client.get(f"/projects/{project_id}/files/AAA.md")).json()["content"]
    results = [
        e.data["content"] for e in events if e.type == "agent_interaction" and e.data["tool_name"] == "read_file"
    ]
    assert notes in results


def _chat_request(project_id: int, query: str = "", script: str = "pace=0 repeat=1") -> bytes:
    body = b'{"message": "Record this [scripted %s]"}' % script.encode()
    return (
        f"POST /api/v1/chat/{project_id}/stream{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def test_a_client_over_the_backlog_is_reset_and_its_run_goes_on(start_server: ServerFactory) -> None:
    # The run's ~2.7 MB fit in the kernel's buffers: no write ever waits, only the backlog limit can
    # stop sending to this client (without it, the stream completes and the connection stays open).
    server = start_server(TANDEM_MODEL="scripted", TANDEM_STREAM_BACKLOG_BYTES="65536", TANDEM_STREAM_STALL_SECONDS="1")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        project_id = await _project_with_big_files(client, _BIG)
        # The run's own stream stalls; it asked for its run to be cancelled if it disconnects, but
        # being dropped for not reading is not the client leaving. The run goes on for seconds after
        # its big events, so it is still running when the stream is dropped.
        stalled = _stalled_request(server, _chat_request(project_id, "?on_disconnect=cancel", "pace=0.05 repeat=10"))
        run_id = await _active_run(client, project_id)
        viewer = _stalled_request(
            server, f"GET /api/v1/runs/{run_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        try:
            assert await _wait_closed(stalled) == _TCP_CLOSE
            assert await _wait_closed(viewer) == _TCP_CLOSE
        finally:
            stalled.close()
            viewer.close()
        await _reattach_reads_everything(client, run_id, project_id)


async def test_a_client_whose_write_waits_too_long_is_reset(start_server: ServerFactory) -> None:
    # The backlog limit is out of reach: only the time a write waits can drop the client. The kernel's
    # send queue must fill for a write to wait at all, hence events of a few MB.
    server = start_server(
        TANDEM_MODEL="scripted",
        TANDEM_MAX_FILE_BYTES="3000000",
        TANDEM_STREAM_BACKLOG_BYTES=str(2**40),
        TANDEM_STREAM_STALL_SECONDS="1",
    )
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        project_id = await _project_with_big_files(client, 2_900_000)
        stalled = _stalled_request(server, _chat_request(project_id))
        try:
            run_id = await _active_run(client, project_id)
            assert await _wait_closed(stalled) == _TCP_CLOSE
        finally:
            stalled.close()
        await _reattach_reads_everything(client, run_id, project_id)
