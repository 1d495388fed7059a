"""An oversized body is refused with 413 however it is sent, also without a Content-Length."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import httpx

# The server's body limit with the default settings: max(TANDEM_MAX_FILE_BYTES,
# 4 * TANDEM_MAX_MESSAGE_CHARS) + 64 KiB.
BODY_LIMIT = 1_000_000 + 64 * 1024


async def chunked_upload(client: httpx.AsyncClient, path: str, total: int) -> tuple[int, dict[str, str]]:
    """PUT `total` bytes with `Transfer-Encoding: chunked` on a raw socket; the status and JSON body."""
    url = httpx.URL(str(client.base_url))
    loop = asyncio.get_running_loop()
    with socket.socket() as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (url.host, url.port))
        head = (
            f"PUT {url.path.rstrip('/')}{path} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        body = b'{"content": "' + b"x" * (total - 16) + b'"}'
        chunks = [body[i : i + 64 * 1024] for i in range(0, len(body), 64 * 1024)]

        async def send() -> None:
            # The server may answer and close before it has everything: stop sending then.
            with contextlib.suppress(ConnectionError):
                await loop.sock_sendall(sock, head.encode())
                for part in chunks:
                    await loop.sock_sendall(sock, f"{len(part):x}\r\n".encode() + part + b"\r\n")
                await loop.sock_sendall(sock, b"0\r\n\r\n")

        sender = asyncio.create_task(send())
        # Plain recv, not a StreamReader: the kernel hands over the response even when a reset
        # (the server closing with our unread chunks) follows it.
        response = b""
        with contextlib.suppress(ConnectionError):
            while part := await loop.sock_recv(sock, 65536):
                response += part
        await sender
    head_bytes, _, payload = response.partition(b"\r\n\r\n")
    return int(head_bytes.split(b" ", 2)[1]), json.loads(payload)


async def test_oversized_chunked_body_is_413_naming_the_limit(client: httpx.AsyncClient, project_id: int) -> None:
    status, error = await chunked_upload(client, f"/projects/{project_id}/files/big.txt", BODY_LIMIT + 100_000)
    assert status == 413
    assert error["code"] == "too_large"
    assert str(BODY_LIMIT) in error["message"]
    paths = [f["path"] for f in (await client.get(f"/projects/{project_id}/files")).json()]
    assert "big.txt" not in paths


async def test_chunked_body_under_the_limit_is_accepted(client: httpx.AsyncClient, project_id: int) -> None:
    status, info = await chunked_upload(client, f"/projects/{project_id}/files/small.txt", 200_000)
    assert status == 200
    assert info["size"] == 200_000 - 16


async def test_json_in_any_spelling_of_its_type_is_held_to_the_json_limit(client: httpx.AsyncClient) -> None:
    # POST /projects also takes archives, up to TANDEM_MAX_UPLOAD_BYTES: only an archive type may have that room.
    before = (await client.get("/projects")).headers["x-total-count"]
    body = json.dumps({"name": "x" * (BODY_LIMIT + 1000), "template": "blank"})
    response = await client.post("/projects", content=body, headers={"Content-Type": "Application/JSON"})
    assert response.status_code == 413, response.text
    assert str(BODY_LIMIT) in response.json()["message"]
    assert (await client.get("/projects")).headers["x-total-count"] == before
