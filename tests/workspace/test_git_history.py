"""A project's history as Git objects in the database: `git` itself reads them back (same ids,
same trees, same diffs), nothing is rewritten, and a restore is a new commit."""

from __future__ import annotations

import zlib
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.persistence.models import GitObject, Run
from tandem.workspace import git_history
from tandem.workspace.files import ProjectFiles
from tests.git_support import git
from tests.support import SeededRun


async def finish(sessions: async_sessionmaker[AsyncSession], run: SeededRun) -> None:
    """End the seeded run: edits outside runs are committed only when none is active."""
    async with sessions.begin() as session:
        await session.execute(update(Run).where(Run.id == run.id).values(active_project_id=None))


async def write_out(sessions: async_sessionmaker[AsyncSession], project_id: int, head: str, folder: Path) -> Path:
    """The project's objects as a bare repository (loose objects), its branch at `head`."""
    git("init", "-q", "--bare", str(folder), cwd=folder.parent)
    async with sessions() as session:
        rows = await session.execute(
            select(GitObject.sha, GitObject.kind, GitObject.data).where(GitObject.project_id == project_id)
        )
        for sha, kind, data in rows:
            target = folder / "objects" / sha[:2] / sha[2:]
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(zlib.compress(f"{kind} {len(data)}\0".encode() + data))
    git("update-ref", "refs/heads/main", head, cwd=folder)
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=folder)
    return folder


async def test_git_reads_the_history_back(
    sessions: async_sessionmaker[AsyncSession], project_files: ProjectFiles, run: SeededRun, tmp_path: Path
) -> None:
    project = run.project_id
    await finish(sessions, run)
    await project_files.write("src/app.py", "print(1)\n")
    await project_files.write("src/lib/util.py", "x = 1\n")
    await project_files.write("a-b.txt", "dash\n")  # sorts between 'a' entries the way Git wants
    async with sessions.begin() as session:
        first = await git_history.commit_edits(session, project)
        assert first is not None
    await project_files.write("src/app.py", "print(2)\n", run_id=run.id)
    await project_files.delete("a-b.txt", run_id=run.id)
    async with sessions.begin() as session:
        second = await git_history.commit(
            session,
            project,
            kind="run",
            message=f"write hello\n\nRun: {run.id}",
            author=git_history.AGENTS,
            run_id=run.id,
        )
        assert second is not None
        assert await git_history.commit(session, project, kind="run", message="x", author=git_history.AGENTS) is None
    repository = await write_out(sessions, project, second.sha, tmp_path / "out.git")
    git("fsck", "--strict", cwd=repository)
    assert git("log", "--format=%H %P|%an <%ae>|%cn|%s", cwd=repository).splitlines() == [
        f"{second.sha} {first.sha}|Tandem agents <agents@tandem.invalid>|Tandem|write hello",
        f"{first.sha} |Tandem editor <editor@tandem.invalid>|Tandem|Files as they were when the history began",
    ]
    assert git("show", "--format=", "--name-status", second.sha, cwd=repository).split() == [
        "D",
        "a-b.txt",
        "M",
        "src/app.py",
    ]
    assert git("show", f"{second.sha}:src/app.py", cwd=repository) == "print(2)\n"
    async with sessions() as session:
        history = await git_history.log(session, project, limit=10, offset=0)
    assert [view.sha for view in history] == [second.sha, first.sha]
    assert [(diff.path, diff.change_type) for diff in history[0].files] == [
        ("a-b.txt", "deleted"),
        ("src/app.py", "modified"),
    ]
    assert "-print(1)\n+print(2)" in history[0].files[1].diff


async def test_a_restore_is_a_new_commit_and_loses_nothing(
    sessions: async_sessionmaker[AsyncSession], project_files: ProjectFiles, run: SeededRun
) -> None:
    project = run.project_id
    await finish(sessions, run)
    await project_files.write("keep.txt", "v1\n")
    async with sessions.begin() as session:
        first = await git_history.commit_edits(session, project)
    assert first is not None
    await project_files.write("keep.txt", "v2\n")
    await project_files.write("new.txt", "added\n")
    async with sessions.begin() as session:
        restored = await git_history.restore(session, project, first.sha)
    assert restored.kind == "restore"
    assert {info.path: (await project_files.read(info.path)).content for info in await project_files.list_files()} == {
        "keep.txt": "v1\n"
    }
    async with sessions() as session:
        history = await git_history.log(session, project, limit=10, offset=0)
    # restore, the edits committed before it (not lost), the first
    assert [view.kind for view in history] == ["restore", "edits", "initial"]
    assert restored.parent_sha == history[1].sha
    assert {(d.path, d.change_type) for d in history[0].files} == {("keep.txt", "modified"), ("new.txt", "deleted")}
