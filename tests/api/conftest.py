from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.fake_models import Script
from tests.fake_openai import fake_openai, openai_env
from tests.support import Server

Tandem = Callable[..., Server]


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def openai_url(script: Script) -> Iterator[str]:
    """A fake OpenAI-compatible server on loopback playing `script`."""
    with fake_openai(script) as url:
        yield url


@pytest.fixture
async def tandem(tmp_path: Path, openai_url: str) -> AsyncIterator[Tandem]:
    """Starts Tandem servers (one SQLite database) whose agents use the fake at `openai_url`; each is a new
    process, which has learned nothing yet about the fake's quirks (but sees the stored model checks)."""
    servers: list[Server] = []

    def start(**env: str) -> Server:
        server = Server(data_dir=tmp_path / "data", env=openai_env(openai_url, **env)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=["true", "false"])
def streaming(request: pytest.FixtureRequest) -> str:
    """`TANDEM_MODEL_STREAMING`: each mode is tried streamed and not."""
    return str(request.param)
