"""Creating a project from existing code over the API: Git (file:// and smart HTTP on loopback),
uploaded zip and tar.gz archives; progress, cancel, and nothing left behind by a failed import."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import MemberFactory
from tests.archive_support import tar_file, write_tar, write_zip
from tests.conftest import Backend, ServerFactory
from tests.git_support import bare_clone, commit, git, make_repository, serve_git
from tests.support import Server

PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256))
MAX_UPLOAD = 8_000_000


@pytest.fixture(scope="module")
def import_server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[Server]:
    server = Server(
        data_dir=tmp_path_factory.mktemp("imports"), env={**backend, "TANDEM_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}
    ).start()
    yield server
    server.stop()


@pytest.fixture
async def api(import_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{import_server.url}/api/v1", timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: two commits (the second adds `later.txt`), tag v1 on the first, branch `feature`."""
    folder = make_repository(
        tmp_path_factory.mktemp("git") / "work",
        {
            "README.md": "# Demo\n",
            "src/app.py": "print('hello')\n",
            "assets/logo.png": PNG,
            ".gitignore": "*.log\n",
            "node_modules/left/index.js": "skipped",
            "build/out.js": "skipped",
        },
    )
    (folder / "link").symlink_to("README.md")
    git("add", "link", cwd=folder)
    git("commit", "-q", "-m", "a link", cwd=folder)
    git("tag", "v1", cwd=folder)
    git("checkout", "-q", "-b", "feature", cwd=folder)
    commit(folder, {"feature.txt": "on feature\n"}, "feature")
    git("checkout", "-q", "main", cwd=folder)
    commit(folder, {"later.txt": "after v1\n"}, "later")
    return folder


async def finished(api: httpx.AsyncClient, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while job["status"] == "running":
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.2)
        response = await api.get(f"/imports/{job['id']}")
        assert response.status_code == 200
        job = response.json()
    return job


async def started(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/v1/imports/{job['id']}"
    return job


async def imported(api: httpx.AsyncClient, response: httpx.Response) -> dict[str, Any]:
    job = await finished(api, await started(response))
    assert job["status"] == "completed", job
    return job


async def tree(api: httpx.AsyncClient, project_id: int) -> dict[str, dict[str, Any]]:
    return {file["path"]: file for file in (await api.get(f"/projects/{project_id}/files")).json()}


def escaped() -> bool:
    """Whether a hostile entry was written outside the project (where `../../` or `/tmp/` point)."""
    return Path("/tmp/evil.txt").exists()


def scratch_left(server: Server) -> list[Path]:
    """Import folders in the server's scratch space (each process has a folder and a lock there)."""
    return list((server.data_dir / "imports").glob("*/import-*"))


async def test_a_file_url_imports_the_default_branch(
    api: httpx.AsyncClient, repository: Path, import_server: Server
) -> None:
    job = await imported(
        api, await api.post("/projects", json={"name": "from git", "source": {"url": repository.as_uri()}})
    )
    files = await tree(api, job["project_id"])
    assert sorted(files) == [".gitignore", "README.md", "assets/logo.png", "later.txt", "src/app.py"]
    assert files["assets/logo.png"]["binary"] is True
    assert files["assets/logo.png"]["size"] == len(PNG)
    assert files["src/app.py"]["binary"] is False
    assert job["binary_files"] == 1
    assert job["skipped"] == 1  # the symbolic link
    project = (await api.get(f"/projects/{job['project_id']}")).json()
    assert project["name"] == "from git"
    assert project["template"] == "import:git"
    assert (await api.get(f"/projects/{job['project_id']}/files/src/app.py")).json()["content"] == "print('hello')\n"
    binary = await api.get(f"/projects/{job['project_id']}/files/assets/logo.png")
    assert binary.status_code == 422
    assert "binary" in binary.json()["message"]
    download = await api.get(f"/projects/{job['project_id']}/download")
    assert zipfile.ZipFile(io.BytesIO(download.content)).read("assets/logo.png") == PNG
    assert scratch_left(import_server) == []


async def test_only_an_admin_imports_from_the_servers_disk(new_member: MemberFactory, repository: Path) -> None:
    # TANDEM_AUTH=accounts: file:// reads whatever repository lies on the server's machine.
    source = {"name": "server's", "source": {"url": repository.as_uri()}}
    user = await new_member("user")
    refused = await user.client.post("/projects", json=source)
    assert refused.status_code == 403, refused.text
    assert "only an admin" in refused.json()["message"]
    assert (await user.client.get("/projects")).json() == [], "no job, no project"
    admin = await new_member("admin", is_admin=True)
    job = await imported(admin.client, await admin.client.post("/projects", json=source))
    assert "later.txt" in await tree(admin.client, job["project_id"])


@pytest.mark.parametrize(
    ("ref", "present", "absent"), [("v1", "README.md", "later.txt"), ("feature", "feature.txt", "later.txt")]
)
async def test_a_branch_or_tag_is_imported(
    api: httpx.AsyncClient, repository: Path, ref: str, present: str, absent: str
) -> None:
    body = {"name": ref, "source": {"url": repository.as_uri(), "ref": ref}}
    files = await tree(api, (await imported(api, await api.post("/projects", json=body)))["project_id"])
    assert present in files
    assert absent not in files


async def test_a_repository_imports_over_smart_http(api: httpx.AsyncClient, repository: Path, tmp_path: Path) -> None:
    bare_clone(repository, tmp_path / "demo.git")
    with serve_git(tmp_path) as base:
        body = {"name": "over http", "source": {"url": f"{base}/demo.git", "depth": None}}
        job = await imported(api, await api.post("/projects", json=body))
    assert "later.txt" in await tree(api, job["project_id"])


async def project_count(api: httpx.AsyncClient) -> int:
    return int((await api.get("/projects")).headers["x-total-count"])


async def test_a_failed_clone_leaves_nothing_and_no_credentials(
    api: httpx.AsyncClient, tmp_path: Path, import_server: Server
) -> None:
    before = await project_count(api)
    with serve_git(tmp_path) as base:
        url = base.replace("http://", "http://someone:s3cr3t-token@") + "/missing.git"
        job = await finished(
            api, await started(await api.post("/projects", json={"name": "x", "source": {"url": url}}))
        )
    assert job["status"] == "failed"
    assert job["error_code"] == "import_failed"
    assert f"git clone of {base}/missing.git failed" in job["error_message"]  # the port kept
    assert "s3cr3t-token" not in job["error_message"]
    assert job["project_id"] is None
    assert await project_count(api) == before
    assert scratch_left(import_server) == []


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/pwned", "ssh://example.com/x.git", "/etc"])
async def test_a_git_url_of_another_scheme_is_refused_at_once(api: httpx.AsyncClient, url: str) -> None:
    response = await api.post("/projects", json={"name": "x", "source": {"url": url}})
    assert response.status_code == 422
    assert "TANDEM_IMPORT_GIT_PROTOCOLS" in response.json()["message"]


@pytest.mark.parametrize("url", ["http://[::1", "https://a]b/"])
async def test_a_malformed_git_url_is_422(api: httpx.AsyncClient, url: str) -> None:
    before = await project_count(api)
    response = await api.post("/projects", json={"name": "x", "source": {"url": url}})
    assert response.status_code == 422, response.text
    assert "malformed" in response.json()["message"]
    assert await project_count(api) == before


async def test_an_option_is_not_a_ref(api: httpx.AsyncClient, repository: Path) -> None:
    body = {"name": "x", "source": {"url": repository.as_uri(), "ref": "--upload-pack=touch /tmp/pwned"}}
    response = await api.post("/projects", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_a_zip_upload_becomes_a_project(api: httpx.AsyncClient, import_server: Server) -> None:
    body = zip_bytes(
        {
            ".gitignore": b"*.tmp\n",
            "index.html": b"<p>hi</p>\n",
            "x.tmp": b"ignored",
            "img/a.png": PNG,
            "node_modules/a/b.js": b"skipped",
        }
    )
    response = await api.post(
        "/projects", params={"name": "zipped"}, content=body, headers={"Content-Type": "application/zip"}
    )
    job = await imported(api, response)
    assert job["source"] == "archive"
    files = await tree(api, job["project_id"])
    assert sorted(files) == [".gitignore", "img/a.png", "index.html"]
    assert files["img/a.png"]["binary"] is True
    assert scratch_left(import_server) == []


async def test_a_tar_gz_upload_streams_in_pieces(api: httpx.AsyncClient, tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "a.tgz", [tar_file("pkg/main.py")], {"pkg/main.py": b"x = 1\n"})

    async def pieces() -> AsyncIterator[bytes]:
        data = archive.read_bytes()
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    response = await api.post(
        "/projects", params={"name": "tarred"}, content=pieces(), headers={"Content-Type": "application/gzip"}
    )
    job = await imported(api, response)
    assert list(await tree(api, job["project_id"])) == ["pkg/main.py"]


def hostile(tmp_path: Path, case: str, zip_bomb: Path) -> bytes:
    return hostile_archive(tmp_path, case, zip_bomb).read_bytes()


def hostile_archive(tmp_path: Path, case: str, zip_bomb: Path) -> Path:
    if case == "bomb":
        return zip_bomb
    if case == "corrupt":
        path = tmp_path / "corrupt.zip"
        path.write_bytes(zip_bytes({f"f{i}": b"text " * 100 for i in range(5)})[:300])
        return path
    entries, modes = {
        "dotdot": ({"ok.txt": b"ok", "../../evil.txt": b"x"}, None),
        "absolute": ({"ok.txt": b"ok", "/tmp/evil.txt": b"x"}, None),
        "symlink": ({"ok.txt": b"ok", "link": b"/etc/passwd"}, {"link": 0o120777}),
        "many": ({f"d{i // 100}/{i}.txt": b"" for i in range(10_001)}, None),
    }[case]
    return write_zip(tmp_path / f"{case}.zip", entries, modes=modes)


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("dotdot", "invalid_input", "'../../evil.txt' is refused: .*'..'"),
        ("absolute", "invalid_input", "'/tmp/evil.txt' is refused: .*absolute"),
        ("symlink", "invalid_input", "'link' is a symbolic link"),
        ("many", "limit_reached", "more than 10000 files .*TANDEM_MAX_PROJECT_FILES"),
        ("bomb", "too_large", "'big.bin' is larger than 1000000 bytes.*TANDEM_MAX_FILE_BYTES"),
        ("corrupt", "invalid_input", "corrupt"),
    ],
)
async def test_a_hostile_archive_is_refused_and_leaves_nothing(
    api: httpx.AsyncClient,
    import_server: Server,
    tmp_path: Path,
    zip_bomb: Path,
    case: str,
    code: str,
    message: str,
) -> None:
    before = await project_count(api)
    body = hostile(tmp_path, case, zip_bomb)
    response = await api.post(
        "/projects", params={"name": case}, content=body, headers={"Content-Type": "application/zip"}
    )
    job = await finished(api, await started(response))
    assert job["status"] == "failed"
    assert job["error_code"] == code
    assert job["project_id"] is None
    assert re.search(message, job["error_message"]), job["error_message"]
    assert await project_count(api) == before
    assert scratch_left(import_server) == []
    assert not escaped()


async def test_an_upload_over_its_limit_is_413(api: httpx.AsyncClient, import_server: Server) -> None:
    before = await project_count(api)

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(MAX_UPLOAD // 65536 + 2):
            yield bytes(65536)

    response = await api.post(
        "/projects", params={"name": "huge"}, content=endless(), headers={"Content-Type": "application/zip"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": "too_large",
        "message": f"request body is larger than {MAX_UPLOAD} bytes (TANDEM_MAX_UPLOAD_BYTES)",
    }
    assert await project_count(api) == before
    assert scratch_left(import_server) == []


async def test_an_upload_needs_a_name(api: httpx.AsyncClient) -> None:
    response = await api.post("/projects", content=b"PK", headers={"Content-Type": "application/zip"})
    assert response.status_code == 422
    assert "?name=" in response.json()["message"]


async def test_an_upload_name_that_cannot_be_stored_is_refused_at_once(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/projects", params={"name": "a\x00b"}, content=b"PK", headers={"Content-Type": "application/zip"}
    )
    assert response.status_code == 422
    assert "NUL" in response.json()["message"]


class StalledGit:
    """An HTTP server that accepts a clone and never answers, until released: a clone that stays
    in progress for as long as a test needs."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/slow.git"

    def _serve(self) -> None:
        connections = []
        self._listener.settimeout(0.2)
        while not self._release.is_set():
            try:
                connection, _ = self._listener.accept()
                connections.append(connection)
            except TimeoutError:
                pass
        for connection in connections:
            connection.close()

    def __enter__(self) -> StalledGit:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        self._thread.join()
        self._listener.close()


async def test_a_running_import_reports_progress_and_can_be_cancelled(
    api: httpx.AsyncClient, import_server: Server
) -> None:
    before = await project_count(api)
    with StalledGit() as stalled:
        job = await started(await api.post("/projects", json={"name": "slow", "source": {"url": stalled.url}}))
        assert job["status"] == "running"
        deadline = time.monotonic() + 60
        while job["phase"] != "cloning":
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.1)
            job = (await api.get(f"/imports/{job['id']}")).json()
        cancelled = await api.post(f"/imports/{job['id']}/cancel")
        assert cancelled.status_code == 202
        job = await finished(api, cancelled.json())
    assert job["status"] == "cancelled"
    assert job["error_code"] == "cancelled"
    assert job["project_id"] is None
    assert await project_count(api) == before
    assert scratch_left(import_server) == []
    again = await api.post(f"/imports/{job['id']}/cancel")
    assert again.status_code == 409


async def test_an_unknown_import_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/imports/0000-0000")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.timeout(400)
async def test_another_process_sees_and_cancels_an_import(start_server: ServerFactory, tmp_path: Path) -> None:
    """The job is a database row: a second server on the same database polls it and cancels it."""
    first = start_server(data_dir=tmp_path / "shared")
    second = start_server(data_dir=tmp_path / "shared")
    async with (
        httpx.AsyncClient(base_url=f"{first.url}/api/v1", timeout=60) as one,
        httpx.AsyncClient(base_url=f"{second.url}/api/v1", timeout=60) as two,
    ):
        with StalledGit() as stalled:
            job = await started(await one.post("/projects", json={"name": "slow", "source": {"url": stalled.url}}))
            deadline = time.monotonic() + 60
            while job["phase"] != "cloning":  # written to the row by the first server
                assert time.monotonic() < deadline, job
                await asyncio.sleep(0.2)
                job = (await two.get(f"/imports/{job['id']}")).json()
            assert (await two.post(f"/imports/{job['id']}/cancel")).status_code == 202
            job = await finished(two, job)
        assert job["status"] == "cancelled"


async def test_a_member_may_not_import_from_the_servers_network(new_member: MemberFactory, tmp_path: Path) -> None:
    user = await new_member("user")
    with serve_git(tmp_path) as base:
        refused = await user.client.post("/projects", json={"name": "x", "source": {"url": f"{base}/demo.git"}})
    assert refused.status_code == 403, refused.text
    assert "TANDEM_IMPORT_GIT_INTERNAL_HOSTS" in refused.json()["message"]


@pytest.mark.timeout(400)
async def test_an_import_whose_server_was_killed_fails_and_leaves_nothing(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with StalledGit() as stalled:
        server = start_server(data_dir=data)
        async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as api:
            before = await project_count(api)
            job = await started(await api.post("/projects", json={"name": "slow", "source": {"url": stalled.url}}))
            while job["phase"] != "cloning":
                await asyncio.sleep(0.1)
                job = (await api.get(f"/imports/{job['id']}")).json()
            assert scratch_left(server)
            server.kill()
    restarted = start_server(data_dir=data)
    async with httpx.AsyncClient(base_url=f"{restarted.url}/api/v1", timeout=60) as api:
        job = await finished(api, job)  # at once on one process; after the lease with several
        assert await project_count(api) == before
    assert (job["status"], job["error_code"]) == ("failed", "interrupted")
    assert "start the import again" in job["error_message"]
    assert list((data / "imports").glob("*/import-*")) == []
