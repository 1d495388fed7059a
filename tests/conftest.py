from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server

ServerFactory = Callable[..., Server]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start real Tandem servers (uvicorn in a subprocess, real sockets); stopped after the test."""
    servers: list[Server] = []

    def start(data_dir: Path | None = None, **env: str) -> Server:
        server = Server(data_dir=data_dir or tmp_path / "data", env=env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def scripted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One shared server with the scripted model (not AI), slow enough to act mid-run."""
    server = Server(
        data_dir=tmp_path_factory.mktemp("scripted"),
        env={"TANDEM_MODEL": "scripted", "TANDEM_SCRIPTED_PACE": "0.02"},
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def client(scripted_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{scripted_server.url}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
async def project_id(client: httpx.AsyncClient) -> int:
    response = await client.post("/projects", json={"name": "test project", "template": "react-vite"})
    assert response.status_code == 201
    return int(response.json()["id"])
