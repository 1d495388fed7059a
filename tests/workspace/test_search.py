"""`ProjectFiles.search`: Python regular expressions, in a child process with a time budget."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import SearchFailed
from tandem.persistence.models import Project
from tandem.workspace import files as files_module
from tandem.workspace.files import FileLimits, ProjectFiles, SearchHit
from tests.support import search_processes, searching

# Backtracking `re` needs about 2**40 steps for this line: it never finishes inside a test.
CATASTROPHIC = "(a+)+$"
EVIL_LINE = "a" * 40 + "!"


@pytest.fixture
async def files(sessions: async_sessionmaker[AsyncSession]) -> ProjectFiles:
    async with sessions.begin() as session:
        project = Project(name="p", template="blank")
        session.add(project)
        await session.flush()
    files = ProjectFiles(
        sessions, project.id, limits=FileLimits(max_file_bytes=1_000_000, max_files=100, max_project_bytes=10_000_000)
    )
    await files.write("src/app.py", "import os\n\ndef main():\n    return os.getcwd()\n")
    await files.write("evil.txt", f"fine\n{EVIL_LINE}\n")
    await files.write("notes.md", "call main() here\n" + "x" * 400 + " main()\n")
    return files


async def test_finds_regular_expression_matches(files: ProjectFiles) -> None:
    assert await files.search(r"def \w+\(", seconds=30) == [SearchHit(path="src/app.py", line=3, text="def main():")]
    hits = await files.search(r"main\(\)", seconds=30)
    assert [(hit.path, hit.line) for hit in hits] == [("notes.md", 1), ("notes.md", 2), ("src/app.py", 3)]
    assert hits[1].text == "x" * 300, "long lines are cut"
    assert len(await files.search(r"main\(\)", seconds=30, limit=2)) == 2
    assert await files.search("no such thing", seconds=30) == []


async def test_an_invalid_regular_expression_is_searched_as_text(files: ProjectFiles) -> None:
    assert await files.search("os.getcwd(", seconds=30) == [
        SearchHit(path="src/app.py", line=4, text="    return os.getcwd()")
    ]
    assert await files.search("\ud800", seconds=30) == [], "a lone surrogate from the model's JSON"


async def test_a_catastrophic_pattern_fails_within_its_budget(files: ProjectFiles) -> None:
    with pytest.raises(SearchFailed, match=r"search took longer than 0\.5 s \(TANDEM_LIMIT_SEARCH_SECONDS\)"):
        await files.search(CATASTROPHIC, seconds=0.5)
    assert search_processes(os.getpid()) == [], "the search process was killed"
    assert await files.search("a+!", seconds=30) == [SearchHit(path="evil.txt", line=2, text=EVIL_LINE)]


async def test_cancelling_a_search_kills_its_process(files: ProjectFiles) -> None:
    search = asyncio.create_task(files.search(CATASTROPHIC, seconds=60))
    assert await searching(os.getpid(), expected=True), "the search runs in a child process"
    search.cancel()
    with pytest.raises(asyncio.CancelledError):
        await search
    assert search_processes(os.getpid()) == []


async def test_a_search_stops_at_its_limit_of_hits(project_files: ProjectFiles) -> None:
    await project_files.write("many.txt", "hit\n" * 25)
    assert len(await project_files.search("hit", seconds=30, limit=20)) == 20
    assert len(await project_files.search("hit", seconds=30)) == 25


async def test_the_default_limit_is_two_hundred_hits(files: ProjectFiles) -> None:
    await files.write("many.txt", "hit\n" * 201)
    hits = await files.search("hit", seconds=30)
    assert [hit.line for hit in hits] == list(range(1, 201))


@pytest.fixture
def fake_grep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Replaces the search process's script with `source`."""

    def install(source: str) -> None:
        script = tmp_path / "grep.py"
        script.write_text(source)
        monkeypatch.setattr(files_module, "grep", SimpleNamespace(__file__=str(script)))

    return install


async def test_a_search_process_that_fails_reports_its_last_error_line(
    files: ProjectFiles, fake_grep: Callable[[str], None]
) -> None:
    fake_grep("import sys\nsys.stderr.write('Traceback\\nfirst\\nMemoryError: out\\n')\nsys.exit(3)\n")
    with pytest.raises(SearchFailed) as failed:
        await files.search("x", seconds=30)
    assert failed.value.message == "search failed: MemoryError: out"
    fake_grep("import sys\nsys.stderr.buffer.write(b'bad \\xff byte\\n')\nsys.exit(1)\n")
    with pytest.raises(SearchFailed) as undecodable:
        await files.search("x", seconds=30)
    assert undecodable.value.message == "search failed: bad \ufffd byte"
    fake_grep("import sys\nsys.exit(3)\n")
    with pytest.raises(SearchFailed) as silent:
        await files.search("x", seconds=30)
    assert silent.value.message == "search failed: exit status 3"


async def test_the_search_process_gets_no_environment(
    files: ProjectFiles, fake_grep: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-children")
    fake_grep("import os, sys\nsys.stderr.write(' '.join(sorted(os.environ)))\nsys.exit(1)\n")
    with pytest.raises(SearchFailed) as failed:
        await files.search("x", seconds=30)
    assert "OPENAI_API_KEY" not in failed.value.message
    assert "PATH" not in failed.value.message.split()


async def test_a_search_that_cannot_start_says_why(files: ProjectFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with pytest.raises(SearchFailed) as failed:
        await files.search("x", seconds=30)
    assert failed.value.message == (
        "search could not start: [Errno 2] No such file or directory: '/nonexistent/python'"
    )
