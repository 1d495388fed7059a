from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend
from tests.fake_models import Script, tandem_on_fake
from tests.fake_openai import fake_openai, openai_env
from tests.fake_providers import PROVIDERS
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


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[tuple[Script, Server]]:
    """A fake model server of the provider a module names (`pytest.mark.parametrize("served", [...],
    indirect=True, scope="module")`) and a Tandem server on it, shared by the module's tests."""
    fake, env = PROVIDERS[request.param]
    with tandem_on_fake(fake, env, tmp_path_factory.mktemp(request.param), **backend) as served:
        yield served


@pytest.fixture
def fake_script(served: tuple[Script, Server]) -> Script:
    """The shared fake's script, back to its defaults for this test."""
    served[0].reset()
    return served[0]


@pytest.fixture
async def fake_api(served: tuple[Script, Server]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the Tandem server on the shared fake."""
    async with httpx.AsyncClient(base_url=f"{served[1].url}/api/v1", timeout=60) as client:
        yield client


@pytest.fixture
async def tandem(tmp_path: Path, openai_url: str) -> AsyncIterator[Tandem]:
    """Starts Tandem servers (SQLite) whose agents use the fake at `openai_url`; each is a new process, which
    has learned nothing yet about the fake's quirks."""
    servers: list[Server] = []

    def start(**env: str) -> Server:
        server = Server(data_dir=tmp_path / f"data{len(servers)}", env=openai_env(openai_url, **env)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=["true", "false"])
def streaming(request: pytest.FixtureRequest) -> str:
    """`TANDEM_MODEL_STREAMING`: each mode is tried streamed and not."""
    return str(request.param)
