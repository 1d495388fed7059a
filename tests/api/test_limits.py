"""What one client may cost: caps on request heads, connections, projects, files and project size,
each refused with `{"code", "message"}` naming its setting. Real server, raw sockets where the
request itself is the point."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import Backend, psql
from tests.support import Server

MAX_HEADER_BYTES = 4096
MAX_CONNECTIONS = 6
MAX_PROJECTS = 6
MAX_FILES = 5
MAX_PROJECT_BYTES = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[Server]:
    limits = {
        "TANDEM_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "TANDEM_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "TANDEM_MAX_PROJECTS": str(MAX_PROJECTS),
        "TANDEM_MAX_PROJECT_FILES": str(MAX_FILES),
        "TANDEM_MAX_PROJECT_BYTES": str(MAX_PROJECT_BYTES),
    }
    database = f"tandem_limits_{uuid.uuid4().hex[:10]}"
    if backend:  # PostgreSQL: a database of its own, so other modules' projects do not count
        psql(f"CREATE DATABASE {database}")
        backend = {**backend, "TANDEM_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"}
    started = Server(data_dir=tmp_path_factory.mktemp("limits"), env={**backend, **limits}).start()
    yield started
    started.stop()
    if backend:
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        yield client


def _raw(server: Server, request: bytes) -> tuple[int, bytes]:
    """Send bytes on a fresh connection; the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _error(body: bytes, setting: str) -> str:
    error = json.loads(body)
    assert set(error) == {"code", "message"}
    assert setting in error["message"]
    return str(error["code"])


def test_many_headers_over_the_limit_get_431(server: Server) -> None:
    headers = "".join(f"X-Header-{i}: {'v' * 90}\r\n" for i in range(100))  # ~10 KB, in one write
    status, body = _raw(server, f"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    assert status == 431
    assert _error(body, "TANDEM_MAX_HEADER_BYTES") == "headers_too_large"


def test_a_header_that_never_ends_is_refused_before_it_is_buffered_whole(server: Server) -> None:
    # 100 KB of one header value and no end of line: the parser never completes it, so only counting
    # what arrives can refuse it (uvicorn with httptools accepted a 100 MB header).
    status, body = _raw(server, b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000)
    assert status == 431
    assert _error(body, "TANDEM_MAX_HEADER_BYTES") == "headers_too_large"


async def test_a_body_arriving_with_its_headers_is_not_counted_as_headers(
    server: Server, client: httpx.AsyncClient
) -> None:
    project = (await client.post("/projects", json={"name": "body"})).json()
    try:
        body = json.dumps({"content": "x" * 30_000}).encode()  # over the header limit, under one read
        head = (
            f"PUT /api/v1/projects/{project['id']}/files/big.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        status, _ = _raw(server, head.encode() + body)
        assert status == 200
    finally:
        await client.delete(f"/projects/{project['id']}")


async def test_connections_past_the_limit_get_503_naming_the_setting(server: Server) -> None:
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(MAX_CONNECTIONS)]
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            refused = await client.get("/api/v1/health")
        assert refused.status_code == 503
        assert _error(refused.content, "TANDEM_MAX_CONNECTIONS") == "overloaded"
    finally:
        for sock in held:
            sock.close()
    async with httpx.AsyncClient(base_url=server.url) as client:
        for _ in range(50):  # the server notices the closed connections within a moment
            if (await client.get("/api/v1/health")).status_code == 200:
                break
        else:
            raise AssertionError("the server still refuses after the connections closed")


async def test_projects_past_the_limit_get_422_naming_the_setting(client: httpx.AsyncClient) -> None:
    created: list[int] = []
    try:
        for _ in range(MAX_PROJECTS + 1):
            response = await client.post("/projects", json={"name": "many"})
            if response.status_code != 201:
                break
            created.append(response.json()["id"])
        assert response.status_code == 422
        assert _error(response.content, "TANDEM_MAX_PROJECTS") == "limit_reached"
        assert len((await client.get("/projects")).json()) == MAX_PROJECTS
        assert (await client.delete(f"/projects/{created.pop()}")).status_code == 204
        again = await client.post("/projects", json={"name": "room again"})
        assert again.status_code == 201
        created.append(again.json()["id"])
    finally:
        for project_id in created:
            await client.delete(f"/projects/{project_id}")


async def test_files_past_the_limit_get_422_and_rewrites_still_work(client: httpx.AsyncClient) -> None:
    project_id = (await client.post("/projects", json={"name": "files"})).json()["id"]
    try:
        base = f"/projects/{project_id}/files"
        existing = len((await client.get(base)).json())
        for i in range(MAX_FILES - existing):
            assert (await client.put(f"{base}/f{i}.txt", json={"content": "x"})).status_code == 200
        refused = await client.put(f"{base}/one-more.txt", json={"content": "x"})
        assert refused.status_code == 422
        assert _error(refused.content, "TANDEM_MAX_PROJECT_FILES") == "limit_reached"
        assert (await client.put(f"{base}/f0.txt", json={"content": "rewritten"})).status_code == 200
    finally:
        await client.delete(f"/projects/{project_id}")


async def test_a_write_growing_the_project_past_its_size_gets_413(client: httpx.AsyncClient) -> None:
    project_id = (await client.post("/projects", json={"name": "size"})).json()["id"]
    try:
        base = f"/projects/{project_id}/files"
        assert (await client.put(f"{base}/a.txt", json={"content": "a" * 150_000})).status_code == 200
        refused = await client.put(f"{base}/b.txt", json={"content": "b" * 60_000})
        assert refused.status_code == 413
        assert _error(refused.content, "TANDEM_MAX_PROJECT_BYTES") == "too_large"
        grown = await client.put(f"{base}/a.txt", json={"content": "a" * 210_000})
        assert grown.status_code == 413
        assert (await client.put(f"{base}/a.txt", json={"content": "smaller"})).status_code == 200
        assert (await client.put(f"{base}/b.txt", json={"content": "b" * 60_000})).status_code == 200
    finally:
        await client.delete(f"/projects/{project_id}")
