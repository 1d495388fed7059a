from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class AccountsServer:
    server: Server
    admin: str
    admin_password: str


@dataclass(frozen=True)
class Member:
    """A user of an accounts server, with a client that sends their API token."""

    name: str
    password: str
    token: str
    client: httpx.AsyncClient


def accounts_server(data_dir: Path, backend: Backend, **env: str) -> AccountsServer:
    """A TANDEM_AUTH=accounts server whose first admin was made with the CLI, as an operator does."""
    server = Server(
        data_dir=data_dir,
        env={"TANDEM_AUTH": "accounts", "TANDEM_MODEL": "scripted", "TANDEM_SCRIPTED_PACE": "0.02", **backend, **env},
    )
    admin, password = f"admin{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    made = server.cli("users", "create", admin, "--admin", stdin=password + "\n")
    assert made.returncode == 0, made.stderr
    return AccountsServer(server=server.start(), admin=admin, admin_password=password)


@pytest.fixture(scope="session")
def accounts(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[AccountsServer]:
    """One shared TANDEM_AUTH=accounts server per backend, with the scripted model (not AI)."""
    started = accounts_server(tmp_path_factory.mktemp("accounts"), backend)
    yield started
    started.server.stop()


async def sign_in(base_url: str, name: str, password: str) -> httpx.AsyncClient:
    """A client holding a browser sign-in (the cookie)."""
    client = httpx.AsyncClient(base_url=f"{base_url}/api/v1", timeout=30)
    response = await client.post("/auth/login", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return client


MemberFactory = Callable[..., Awaitable[Member]]


@pytest.fixture
async def new_member(accounts: AccountsServer) -> AsyncIterator[MemberFactory]:
    """Makes users through the admin API, each with an API token of their own."""
    admin = await sign_in(accounts.server.url, accounts.admin, accounts.admin_password)
    clients = [admin]

    async def make(prefix: str = "user", *, is_admin: bool = False) -> Member:
        name, password = f"{prefix}{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
        created = await admin.post("/users", json={"name": name, "password": password, "is_admin": is_admin})
        assert created.status_code == 201, created.text
        browser = await sign_in(accounts.server.url, name, password)
        clients.append(browser)
        token = (await browser.post("/auth/tokens", json={"name": "tests"})).json()["token"]
        client = httpx.AsyncClient(
            base_url=f"{accounts.server.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        clients.append(client)
        return Member(name=name, password=password, token=token, client=client)

    yield make
    for client in clients:
        await client.aclose()


async def previewed(client: httpx.AsyncClient, template: str) -> tuple[int, str]:
    """A new project from `template` and its preview link."""
    project = (await client.post("/projects", json={"name": template, "template": template})).json()
    response = await client.post(f"/projects/{project['id']}/preview")
    assert response.status_code == 200, response.text
    return project["id"], response.json()["url"]
