"""The command line, as real subprocesses: `tandem serve` refuses to expose an unauthenticated server,
and to start several workers without the scale-out backends (they are served in `tests/scaleout`);
`tandem users` manages accounts; `tandem import` and `tandem export` work on the database a server
would use (SQLite here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.archive_support import write_zip
from tests.conftest import REDIS_URL
from tests.git_support import commit, git, make_repository
from tests.support import Server

PNG = b"\x89PNG\r\n\x1a\n\0\0" + bytes(range(256))


def tandem(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env["TANDEM_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "tandem", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    for path, content in {
        ".gitignore": b"*.log\n",
        "src/main.py": b"print('hi')\n",
        "img/logo.png": PNG,
        "debug.log": b"ignored",
        "node_modules/x/index.js": b"skipped",
        ".venv/bin/python": b"skipped",
    }.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(content)
    return folder


def test_a_folder_goes_in_and_comes_out_the_same(tmp_path: Path, code: Path) -> None:
    data = tmp_path / "data"
    result = tandem(data, "import", str(code), "--name", "mine")
    assert result.returncode == 0, result.stderr
    assert "Imported 3 files (1 binary, 0 links skipped) into project 1 'mine'" in result.stdout
    assert list((data / "imports").iterdir()) == []
    out = tmp_path / "out"
    result = tandem(data, "export", "mine", str(out))
    assert result.returncode == 0, result.stderr
    assert tree(out) == {".gitignore": b"*.log\n", "img/logo.png": PNG, "src/main.py": b"print('hi')\n"}


def test_export_refuses_a_folder_that_is_not_empty(tmp_path: Path, code: Path) -> None:
    data = tmp_path / "data"
    assert tandem(data, "import", str(code)).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    refused = tandem(data, "export", "1", str(out))
    assert refused.returncode == 1
    assert "is not an empty folder; pass --force" in refused.stderr
    assert tree(out) == {"mine.txt": b"keep me"}
    forced = tandem(data, "export", "1", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert set(tree(out)) == {"mine.txt", ".gitignore", "img/logo.png", "src/main.py"}


def test_export_does_not_follow_a_link_out_of_the_folder(tmp_path: Path, code: Path) -> None:
    data = tmp_path / "data"
    assert tandem(data, "import", str(code)).returncode == 0
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "src").symlink_to(elsewhere)
    result = tandem(data, "export", "1", str(out), "--force")
    assert result.returncode == 1
    assert "symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_git_tag_imports_from_the_command_line(tmp_path: Path) -> None:
    repository = make_repository(tmp_path / "repo", {"a.txt": "first\n"})
    git("tag", "v1", cwd=repository)
    commit(repository, {"b.txt": "second\n"}, "second")
    data = tmp_path / "data"
    result = tandem(data, "import", repository.as_uri(), "--ref", "v1")
    assert result.returncode == 0, result.stderr
    assert "into project 1 'repo'" in result.stdout
    out = tmp_path / "out"
    assert tandem(data, "export", "repo", str(out)).returncode == 0
    assert tree(out) == {"a.txt": b"first\n"}


def test_a_hostile_archive_is_refused_and_leaves_no_project(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "evil.zip", {"ok.txt": b"ok", "../evil.txt": b"x"})
    data = tmp_path / "data"
    result = tandem(data, "import", str(archive))
    assert result.returncode == 1
    assert "error: archive entry '../evil.txt' is refused" in result.stderr
    assert not (tmp_path / "evil.txt").exists()
    missing = tandem(data, "export", "evil", str(tmp_path / "out"))
    assert missing.returncode == 1
    assert "0 projects are called 'evil'" in missing.stderr


def test_serving_beyond_loopback_without_accounts_is_refused_naming_the_setting(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path, host="0.0.0.0")
    with pytest.raises(RuntimeError, match="server exited") as refused:
        server.start()
    assert server.process is not None
    assert server.process.returncode == 2
    assert "TANDEM_AUTH=accounts" in str(refused.value)
    assert "tandem users create NAME --admin" in str(refused.value)


SCALE_OUT_SETTINGS = {
    "TANDEM_DATABASE_URL": "TANDEM_DATABASE_URL=postgresql+asyncpg://",
    "TANDEM_EVENTS_URL": "TANDEM_EVENTS_URL=redis://",
}


@pytest.mark.parametrize("given", [(), ("TANDEM_DATABASE_URL",), ("TANDEM_EVENTS_URL",)])
def test_several_workers_without_postgresql_and_redis_are_refused_naming_what_is_missing(
    tmp_path: Path, request: pytest.FixtureRequest, given: tuple[str, ...]
) -> None:
    env = {}
    if "TANDEM_DATABASE_URL" in given:
        env["TANDEM_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    if "TANDEM_EVENTS_URL" in given:
        env["TANDEM_EVENTS_URL"] = REDIS_URL
    server = Server(data_dir=tmp_path, env=env, args=("--workers", "2"))
    try:
        with pytest.raises(RuntimeError, match="server exited") as refused:
            server.start()
    finally:
        server.stop()  # not left running if it was not refused
    assert server.process is not None
    assert server.process.returncode == 2
    assert "refusing to start 2 workers" in str(refused.value)
    for name, setting in SCALE_OUT_SETTINGS.items():
        assert (setting in str(refused.value)) == (name not in given), name


def test_serving_beyond_loopback_with_accounts_starts_and_asks_who_is_calling(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path, env={"TANDEM_AUTH": "accounts"}, host="0.0.0.0").start()
    try:
        assert httpx.get(f"{server.url}/api/v1/projects", timeout=30).status_code == 401
    finally:
        server.stop()


def test_users_are_made_with_a_password_from_stdin_and_names_are_unique(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path)
    made = server.cli("users", "create", "ada", "--admin", stdin="a long enough password\n")
    assert made.returncode == 0, made.stderr
    assert "created user ada (admin)" in made.stdout
    again = server.cli("users", "create", "ada", stdin="a long enough password\n")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    short = server.cli("users", "create", "bob", stdin="short\n")
    assert short.returncode == 1
    assert "8 to 1024 characters" in short.stderr
    token = server.cli("users", "token", "ada")
    assert token.returncode == 0, token.stderr
    assert token.stdout.startswith("tdm_")
