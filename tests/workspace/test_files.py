"""`ProjectFiles`: reads, writes, deletes and renames of a project's files, the changes an agent's
writes record, and the size and count limits."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Conflict, LimitReached, NotFound, TooLarge
from tandem.persistence.models import CodeChangeRow, ProjectFile
from tandem.settings import Settings
from tandem.workspace.files import FileInfo, FileLimits, ProjectFiles, check_size, put_file, unified_diff
from tandem.workspace.paths import UnsafePath
from tests.conftest import NewRun
from tests.support import SeededRun


async def stored(sessions: async_sessionmaker[AsyncSession], project_id: int) -> dict[str, tuple[str, int]]:
    async with sessions() as session:
        rows = await session.scalars(select(ProjectFile).where(ProjectFile.project_id == project_id))
        return {row.path: (row.content, row.size) for row in rows}


async def changes(
    sessions: async_sessionmaker[AsyncSession], run_id: str
) -> list[tuple[str, str, str | None, str | None]]:
    async with sessions() as session:
        rows = await session.scalars(
            select(CodeChangeRow).where(CodeChangeRow.run_id == run_id).order_by(CodeChangeRow.id)
        )
        return [(row.path, row.change_type, row.before, row.after) for row in rows]


def test_diffs_name_dev_null_for_a_missing_side_and_mark_a_missing_final_newline() -> None:
    assert unified_diff("a.txt", None, "x\ny") == (
        "--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n"
    )
    assert unified_diff("a.txt", "x\ny\n", None) == "--- a/a.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-x\n-y\n"
    assert unified_diff("d/a.txt", "x\ny\n", "x\nz") == (
        "--- a/d/a.txt\n+++ b/d/a.txt\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n\\ No newline at end of file\n"
    )


def test_the_size_limit_counts_utf8_bytes_and_admits_a_file_at_the_limit() -> None:
    check_size("é" * 5, 10)
    with pytest.raises(TooLarge) as refused:
        check_size("é" * 5 + "x", 10)
    assert refused.value.message == "file is 11 bytes; the limit is 10 bytes (TANDEM_MAX_FILE_BYTES)"


def test_limits_come_from_the_settings() -> None:
    settings = Settings(max_file_bytes=11, max_project_files=22, max_project_bytes=33)
    assert FileLimits.of(settings) == FileLimits(max_file_bytes=11, max_files=22, max_project_bytes=33)


async def test_put_file_creates_updates_and_deletes_in_the_callers_transaction(
    sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    async with sessions.begin() as session:
        created = await put_file(session, run.project_id, "a.txt", "héllo")
        assert created is not None
        assert (created.path, created.content, created.size) == ("a.txt", "héllo", 6)
        updated = await put_file(session, run.project_id, "a.txt", "hi")
        assert updated is created
        assert (updated.content, updated.size) == ("hi", 2)
        assert await put_file(session, run.project_id, "missing.txt", None) is None
    assert await stored(sessions, run.project_id) == {"a.txt": ("hi", 2)}
    async with sessions.begin() as session:
        assert await put_file(session, run.project_id, "a.txt", None) is None
    assert await stored(sessions, run.project_id) == {}


async def test_a_write_stores_the_normalised_path_and_returns_its_info(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    info, change = await project_files.write("./src//app.py", "ünï")
    assert (info.path, info.size, change) == ("src/app.py", 5, None)
    read = await project_files.read("src/app.py")
    assert (read.path, read.size, read.content, read.updated_at) == ("src/app.py", 5, "ünï", info.updated_at)
    assert await stored(sessions, run.project_id) == {"src/app.py": ("ünï", 5)}
    assert await changes(sessions, run.id) == [], "a user's write records no change"


async def test_an_agents_writes_and_deletes_record_changes_with_diffs(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    _, created = await project_files.write("a.txt", "one\n", run_id=run.id)
    assert created is not None
    assert (created.project_id, created.run_id, created.path, created.change_type) == (
        run.project_id,
        run.id,
        "a.txt",
        "created",
    )
    assert (created.before, created.after, created.diff) == (None, "one\n", unified_diff("a.txt", None, "one\n"))
    _, unchanged = await project_files.write("a.txt", "one\n", run_id=run.id)
    assert unchanged is None, "rewriting the same content is no change"
    _, modified = await project_files.write("a.txt", "two\n", run_id=run.id)
    assert modified is not None
    assert modified.id > created.id
    assert modified.diff == unified_diff("a.txt", "one\n", "two\n")
    deleted = await project_files.delete("a.txt", run_id=run.id)
    assert deleted is not None
    assert deleted.diff == unified_diff("a.txt", "two\n", None)
    assert await changes(sessions, run.id) == [
        ("a.txt", "created", None, "one\n"),
        ("a.txt", "modified", "one\n", "two\n"),
        ("a.txt", "deleted", "two\n", None),
    ]
    assert await stored(sessions, run.project_id) == {}


async def test_a_users_delete_records_no_change(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    await project_files.write("a.txt", "x")
    assert await project_files.delete("a.txt") is None
    assert await stored(sessions, run.project_id) == {}
    assert await changes(sessions, run.id) == []


async def test_missing_files_and_unsafe_paths_are_refused(project_files: ProjectFiles) -> None:
    for call in (
        project_files.read("nope.txt"),
        project_files.delete("nope.txt"),
        project_files.rename("nope.txt", "b"),
    ):
        with pytest.raises(NotFound) as missing:
            await call
        assert missing.value.message == "file 'nope.txt' does not exist"
    for unsafe in (
        project_files.read("../x"),
        project_files.write("../x", ""),
        project_files.delete("../x"),
        project_files.rename("../x", "b"),
        project_files.rename("a", "../x"),
    ):
        with pytest.raises(UnsafePath):
            await unsafe


async def test_a_file_past_the_size_limit_is_refused_before_anything_is_stored(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    await project_files.write("max.txt", "x" * 100)
    with pytest.raises(TooLarge, match="file is 101 bytes; the limit is 100 bytes"):
        await project_files.write("big.txt", "x" * 101)
    assert await stored(sessions, run.project_id) == {"max.txt": ("x" * 100, 100)}


async def test_the_file_count_limit_refuses_new_files_but_not_rewrites(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    for name in ("a", "b", "c"):
        await project_files.write(name, "1")
    with pytest.raises(LimitReached) as refused:
        await project_files.write("d", "1")
    assert refused.value.message == (
        f"project {run.project_id} has 3 files, the limit (TANDEM_MAX_PROJECT_FILES); delete some first"
    )
    await project_files.write("a", "22")
    assert await stored(sessions, run.project_id) == {"a": ("22", 2), "b": ("1", 1), "c": ("1", 1)}


async def test_the_project_size_limit_counts_the_growth_and_lets_a_project_shrink(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    await project_files.write("a", "x" * 100)
    await project_files.write("b", "x" * 90)
    await project_files.write("b", "x" * 100)  # 200 bytes: exactly the limit
    with pytest.raises(TooLarge) as refused:
        await project_files.write("c", "x")
    assert refused.value.message == (
        "the project would hold 201 bytes; the limit is 200 bytes (TANDEM_MAX_PROJECT_BYTES)"
    )
    await project_files.write("b", "x" * 100)  # same size: passes
    await project_files.write("b", "x" * 50)  # smaller: passes
    await project_files.write("c", "x" * 50)  # back to 200
    assert await stored(sessions, run.project_id) == {"a": ("x" * 100, 100), "b": ("x" * 50, 50), "c": ("x" * 50, 50)}


async def test_a_project_over_a_lowered_limit_can_still_be_trimmed(
    sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    roomy = ProjectFiles(
        sessions, run.project_id, limits=FileLimits(max_file_bytes=100, max_files=9, max_project_bytes=999)
    )
    for name in ("a", "b", "c"):
        await roomy.write(name, "x" * 100)
    tight = ProjectFiles(
        sessions, run.project_id, limits=FileLimits(max_file_bytes=100, max_files=2, max_project_bytes=150)
    )
    await tight.write("a", "x" * 10)
    with pytest.raises(TooLarge, match="would hold 211 bytes"):
        await tight.write("a", "x" * 11)
    with pytest.raises(LimitReached, match="has 3 files"):
        await tight.write("d", "")


async def test_files_are_listed_by_path_with_their_sizes(project_files: ProjectFiles) -> None:
    assert await project_files.list_files() == []
    infos = {}
    for path, content in (("src/b.py", "bb"), ("README.md", "r"), ("src/a.py", "ä")):
        infos[path], _ = await project_files.write(path, content)
    listed = await project_files.list_files()
    assert listed == [infos["README.md"], infos["src/a.py"], infos["src/b.py"]]
    assert [(f.path, f.size) for f in listed] == [("README.md", 1), ("src/a.py", 2), ("src/b.py", 2)]


async def test_a_project_sees_only_its_own_files(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], new_run: NewRun, run: SeededRun
) -> None:
    other_run = await new_run()
    other = ProjectFiles(
        sessions, other_run.project_id, limits=FileLimits(max_file_bytes=9, max_files=1, max_project_bytes=9)
    )
    await other.write("a.txt", "other")
    await project_files.write("b.txt", "mine")
    assert [f.path for f in await project_files.list_files()] == ["b.txt"]
    with pytest.raises(NotFound):
        await project_files.read("a.txt")
    await project_files.write("a.txt", "mine too")  # the other project's file does not count
    assert (await other.read("a.txt")).content == "other"
    assert [hit.path for hit in await project_files.search("mine", seconds=30)] == ["a.txt", "b.txt"]


async def test_a_rename_moves_the_file_and_refuses_to_overwrite(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    await project_files.write("a.txt", "A")
    await project_files.write("b.txt", "B")
    with pytest.raises(Conflict) as taken:
        await project_files.rename("a.txt", "./b.txt")
    assert taken.value.message == "file 'b.txt' already exists"
    same = await project_files.rename("a.txt", "a.txt")
    assert (same.path, same.size) == ("a.txt", 1)
    moved = await project_files.rename("./a.txt", "docs//c.txt")
    assert isinstance(moved, FileInfo)
    assert (moved.path, moved.size) == ("docs/c.txt", 1)
    assert await stored(sessions, run.project_id) == {"b.txt": ("B", 1), "docs/c.txt": ("A", 1)}


async def test_an_empty_project_takes_a_first_file_of_exactly_its_size_limit(
    sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    files = ProjectFiles(
        sessions, run.project_id, limits=FileLimits(max_file_bytes=50, max_files=9, max_project_bytes=50)
    )
    info, _ = await files.write("a", "x" * 50)
    assert info.size == 50


async def test_an_empty_file_adds_nothing_to_a_project_over_its_size_limit(
    sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    roomy = ProjectFiles(
        sessions, run.project_id, limits=FileLimits(max_file_bytes=100, max_files=9, max_project_bytes=999)
    )
    await roomy.write("a", "x" * 100)
    tight = ProjectFiles(
        sessions, run.project_id, limits=FileLimits(max_file_bytes=100, max_files=9, max_project_bytes=50)
    )
    info, _ = await tight.write("empty", "")
    assert info.size == 0
