"""What an import may reach and how much of it one user may start: internal addresses, redirects
and transports for Git; limits per user; and what a process that died mid-import leaves behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Event, Thread

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Forbidden, ImportFailed, LimitReached, RateLimited
from tandem.persistence.models import ImportJob
from tandem.services.accounts import LOCAL
from tandem.services.imports import FolderSource, GitSource
from tandem.services.projects import ProjectLimits
from tandem.workspace.importing import GitRepository, resolve_git_host
from tests.git_support import bare_clone, make_repository, serve_git
from tests.services.test_imports import LIMITS, leftovers, make_importer, member


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A bare repository served over smart HTTP on loopback; the URL of `demo.git`."""
    root = tmp_path_factory.mktemp("served")
    bare_clone(make_repository(root / "work", {"a.txt": "a\n"}), root / "srv" / "demo.git")
    with serve_git(root / "srv") as base:
        yield f"{base}/demo.git"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "10.1.2.3",
        "192.168.0.1",
        "169.254.169.254",  # cloud metadata
        "224.0.0.1",
        "0.0.0.0",
        "240.0.0.1",
    ],
)
async def test_a_git_host_at_an_internal_address_is_refused(host: str) -> None:
    with pytest.raises(Forbidden, match=r"an internal address.*only an admin.*TANDEM_IMPORT_GIT_INTERNAL_HOSTS"):
        await resolve_git_host(f"http://{host}:8080/x.git", allow_internal=False)


async def test_a_git_host_is_pinned_to_the_addresses_checked() -> None:
    options = await resolve_git_host("http://localhost:8080/x.git", allow_internal=True)
    assert options[0] == "-c"
    assert options[1].startswith("http.curloptResolve=localhost:8080:")
    assert "127.0.0.1" in options[1]


async def test_a_member_clones_from_loopback_only_where_the_setting_allows(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, served: str
) -> None:
    user = await member(sessions)
    refused = make_importer(sessions, tmp_path)
    url = served.replace("127.0.0.1", "localhost")
    with pytest.raises(Forbidden, match="internal address"):
        await refused.start(user, "x", GitSource(url=url), refused.scratch())
    allowed = make_importer(sessions, tmp_path, git_internal_hosts=True)
    imported = await allowed.run(user, "x", GitSource(url=url), allowed.scratch())  # through the pinned address
    assert imported.files == 1


@contextmanager
def redirecting(to: str) -> Iterator[str]:
    """An HTTP server on loopback that redirects every request to the same path under `to`."""

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(301)
            self.send_header("Location", to + self.path)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_git_redirect_is_not_followed(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, served: str
) -> None:
    importer = make_importer(sessions, tmp_path)
    base = served.removesuffix("/demo.git")
    with redirecting(base) as elsewhere, pytest.raises(ImportFailed, match=r"git clone of .* failed"):
        # LOCAL is an admin, who may reach loopback: only the redirect stops this clone.
        await importer.run(LOCAL, "x", GitSource(url=f"{elsewhere}/demo.git"), importer.scratch())


@pytest.mark.parametrize("transport", ["ext", "file"])
async def test_git_itself_refuses_a_transport_that_is_not_allowed(tmp_path: Path, transport: str) -> None:
    """Below the URL check: `git` is given only the allowed transports (here not `file`), and `ext`
    (which runs a command) never."""
    marker = tmp_path / "pwned"
    url = {
        "ext": f"ext::sh -c touch% {marker}",
        "file": make_repository(tmp_path / "work", {"a.txt": "a"}).as_uri(),
    }[transport]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    repository = GitRepository(scratch, protocols=["https", "http"])
    with pytest.raises(ImportFailed, match=f"transport '{transport}' not allowed"):
        await repository.clone(url, ref=None, depth=1, limits=LIMITS, stop=Event(), progress=lambda _: None, pinned=[])
    assert not marker.exists()


async def running_job(sessions: async_sessionmaker[AsyncSession], user_id: int, **values: object) -> str:
    job_id = str(uuid.uuid4())
    async with sessions.begin() as session:
        session.add(ImportJob(id=job_id, name="job", source="git", user_id=user_id, **values))
    return job_id


async def test_imports_at_once_are_limited_per_user(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    importer = make_importer(sessions, tmp_path, max_per_user=1)
    user = await member(sessions)
    await running_job(sessions, user.id)
    with pytest.raises(
        RateLimited, match=r"1 imports going; the limit is 1 at once \(TANDEM_MAX_IMPORTS_PER_USER\)"
    ) as caught:
        await importer.start(user, "x", FolderSource(path=tmp_path), importer.scratch())
    assert int(caught.value.headers["Retry-After"]) > 0

    async def body() -> AsyncIterator[bytes]:
        raise AssertionError("the upload was read before the limit was checked")
        yield b""

    with pytest.raises(RateLimited, match="TANDEM_MAX_IMPORTS_PER_USER"):
        await importer.upload(user, "x", body())
    other = await member(sessions)  # another user's limit is their own
    await importer.start(other, "x", FolderSource(path=tmp_path), importer.scratch())
    await importer.shutdown()
    assert leftovers(tmp_path / "scratch") == []


async def test_imports_per_minute_are_limited_per_user(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    importer = make_importer(sessions, tmp_path, per_minute=2)
    user = await member(sessions)
    for _ in range(2):
        await importer.start(user, "x", FolderSource(path=folder), importer.scratch())
    with pytest.raises(
        RateLimited, match=r"2 imports in the last minute; the limit is 2 \(TANDEM_IMPORTS_PER_MINUTE\)"
    ) as caught:
        await importer.start(user, "x", FolderSource(path=folder), importer.scratch())
    assert 0 < int(caught.value.headers["Retry-After"]) <= 60
    await importer.shutdown()


async def test_projects_are_limited_per_user(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    importer = make_importer(
        sessions, tmp_path, projects=ProjectLimits(max_projects=1_000_000, max_projects_per_user=1)
    )
    user = await member(sessions)
    await importer.run(user, "first", FolderSource(path=folder), importer.scratch())
    with pytest.raises(LimitReached, match=r"you own 1 projects.*TANDEM_MAX_PROJECTS_PER_USER"):
        await importer.run(user, "second", FolderSource(path=folder), importer.scratch())
    other = await member(sessions)
    await importer.run(other, "theirs", FolderSource(path=folder), importer.scratch())


CLAIM = """
import sys, time
from pathlib import Path
from tandem.workspace.importing import ScratchSpace
folder = ScratchSpace(Path(sys.argv[1]), sys.argv[2]).new()
(folder / "upload").write_bytes(b"half an archive")
print(folder, flush=True)
time.sleep(600)
"""


def killed_mid_import(root: Path) -> Path:
    """The scratch folder of a process that was killed (SIGKILL) while it held an import there."""
    child = subprocess.Popen(
        [sys.executable, "-c", CLAIM, str(root), f"dead-{uuid.uuid4().hex[:8]}"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    folder = Path(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait()
    return folder


async def test_a_dead_processs_scratch_and_jobs_are_cleaned_up_at_start(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    root = tmp_path / "scratch"
    dead = killed_mid_import(root)
    alive = make_importer(sessions, tmp_path)
    kept = alive.scratch()  # another live process's import (this one's): never touched
    job = await running_job(sessions, LOCAL.id, owner="dead-process")
    assert dead.exists()
    starting = make_importer(sessions, tmp_path)
    await starting.begin()
    assert not dead.exists()
    assert kept.exists()
    async with sessions() as session:
        row = await session.get(ImportJob, job)
    assert row is not None
    assert (row.status, row.error_code) == ("failed", "interrupted")
    assert "stopped before it finished" in (row.error_message or "")
    await starting.shutdown()
    await alive.shutdown()
    assert list(root.iterdir()) == []


async def test_with_a_lease_only_jobs_whose_heartbeat_lapsed_are_failed(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    lapsed = await running_job(sessions, LOCAL.id, owner="gone", heartbeat_at=now - timedelta(seconds=60))
    fresh = await running_job(sessions, LOCAL.id, owner="busy", heartbeat_at=now)
    importer = make_importer(sessions, tmp_path, lease=10)
    assert await importer.fail_stale(10) >= 1
    async with sessions() as session:
        status = dict(
            (
                await session.execute(select(ImportJob.id, ImportJob.status).where(ImportJob.id.in_([lapsed, fresh])))
            ).all()
        )
    assert status == {lapsed: "failed", fresh: "running"}
