from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.persistence.database import create_engine, create_sessionmaker, migrate
from tandem.persistence.models import ChatSession, Message, Project, Run
from tandem.sandbox.bubblewrap import probe
from tandem.sandbox.command import Sandbox
from tandem.settings import CommandLimits
from tandem.workspace.files import FileLimits, ProjectFiles
from tests.archive_support import write_zip_bomb
from tests.support import PrivateRedis, SeededRun, Server

ServerFactory = Callable[..., Server]
LOGS_AT_START = pytest.StashKey[dict[Path, int]]()
LOG_TAIL_BYTES = 20_000
Backend = dict[str, str]

REDIS_URL = "redis://127.0.0.1:6379/0"
# Small enough for a test to reach each one (`project_files`).
FILE_LIMITS = FileLimits(max_file_bytes=100, max_files=3, max_project_bytes=200)
SMALL_COMMANDS = CommandLimits(
    wall_seconds=10, cpu_seconds=2, memory_mb=256, processes=48, output_bytes=20_000, file_mb=1
)


def _log_sizes() -> dict[Path, int]:
    return {log: log.stat().st_size for log in Server.logs if log.exists()}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[LOGS_AT_START] = _log_sizes()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A failing test's report gets what the servers logged while it ran (a 500's traceback, say),
    which is otherwise lost with the temporary directory."""
    report: pytest.TestReport = yield
    if report.failed:
        started = item.stash.get(LOGS_AT_START, {})
        for log, size in _log_sizes().items():
            if size > started.get(log, 0):
                with log.open("rb") as file:
                    file.seek(max(started.get(log, 0), size - LOG_TAIL_BYTES))
                    report.sections.append((f"server log {log}", file.read().decode(errors="replace")))
    return report


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True, capture_output=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server (trust auth), dropped afterwards."""
    name = f"tandem_test_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {name}")
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis for one test alone, so restarting it disturbs no other test (or xdist worker)."""
    redis = PrivateRedis().start()
    yield redis
    redis.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database of each backend: a fresh SQLite file, or the suite's PostgreSQL database."""
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    await migrate(engine)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres+redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every server-level test runs on the embedded default and on the scale-out configuration."""
    if request.param == "sqlite":
        return {}
    return {
        "TANDEM_DATABASE_URL": request.getfixturevalue("postgres_url"),
        "TANDEM_EVENTS_URL": REDIS_URL,
        "TANDEM_RUN_LEASE_SECONDS": "2",
        "TANDEM_HEARTBEAT_SECONDS": "0.5",
    }


@pytest.fixture
def start_server(tmp_path: Path, backend: Backend) -> Iterator[ServerFactory]:
    """Start real Tandem servers (uvicorn in a subprocess, real sockets); stopped after the test."""
    servers: list[Server] = []

    def start(data_dir: Path | None = None, **env: str) -> Server:
        server = Server(data_dir=data_dir or tmp_path / "data", env={**backend, **env}).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def scripted_server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[Server]:
    """One shared server per backend with the scripted model (not AI), slow enough to act mid-run."""
    server = Server(
        data_dir=tmp_path_factory.mktemp("scripted"),
        env={"TANDEM_MODEL": "scripted", "TANDEM_SCRIPTED_PACE": "0.02", **backend},
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


NewRun = Callable[[], Awaitable[SeededRun]]


@pytest.fixture
def new_run(sessions: async_sessionmaker[AsyncSession]) -> NewRun:
    """Creates a `running` run with its project, chat and messages, as the run manager does."""

    async def create() -> SeededRun:
        run_id = str(uuid.uuid4())
        async with sessions.begin() as session:
            project = Project(name="p", template="blank")
            session.add(project)
            await session.flush()
            chat = ChatSession(project_id=project.id, title="t")
            session.add(chat)
            await session.flush()
            user = Message(session_id=chat.id, role="user", content="hi")
            assistant = Message(session_id=chat.id, role="assistant")
            session.add_all([user, assistant])
            await session.flush()
            session.add(
                Run(
                    id=run_id,
                    project_id=project.id,
                    session_id=chat.id,
                    user_message_id=user.id,
                    assistant_message_id=assistant.id,
                    active_project_id=project.id,
                    status="running",
                )
            )
        return SeededRun(run_id, assistant.id, project.id)

    return create


@pytest.fixture
async def run(new_run: NewRun) -> SeededRun:
    return await new_run()


@pytest.fixture
def project_files(sessions: async_sessionmaker[AsyncSession], run: SeededRun) -> ProjectFiles:
    """The files of the seeded run's project, with `FILE_LIMITS`."""
    return ProjectFiles(sessions, run.project_id, limits=FILE_LIMITS)


@pytest.fixture(scope="session")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip with one 1 GiB entry (about 1 MB compressed), built once per session."""
    return write_zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.zip")


@pytest.fixture
def scratch_root() -> Iterator[Path]:
    """A root for command folders that the commands' user can reach (pytest's temporary folders are
    private to the user running the tests)."""
    root = Path(tempfile.gettempdir()) / f"tandem-commands-test-{uuid.uuid4().hex[:8]}"
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def sandbox(scratch_root: Path) -> Sandbox:
    """A working sandbox with small limits (the tests need bubblewrap: `make sandbox` installs it)."""
    found = await probe(SMALL_COMMANDS, scratch_root)
    assert found.sandbox is not None, found.status.detail
    return found.sandbox
