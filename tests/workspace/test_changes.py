"""Code changes recorded by agent writes, listing them, and reverting one change or a whole run."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Conflict, NotFound
from tandem.events import CodeChange
from tandem.persistence.models import CodeChangeRow
from tandem.workspace import changes
from tandem.workspace.files import ProjectFiles, unified_diff
from tests.conftest import FILE_LIMITS, NewRun
from tests.support import SeededRun


async def contents(project_files: ProjectFiles) -> dict[str, str]:
    return {info.path: (await project_files.read(info.path)).content for info in await project_files.list_files()}


async def of_run(sessions: async_sessionmaker[AsyncSession], run_id: str) -> list[CodeChange]:
    async with sessions() as session:
        return await changes.list_for_run(session, run_id)


async def test_a_change_on_the_wire_carries_its_row(project_files: ProjectFiles, run: SeededRun) -> None:
    _, row = await project_files.write("a.txt", "one\n", run_id=run.id)
    assert row is not None
    assert CodeChange.model_validate(row) == CodeChange(
        id=row.id,
        run_id=run.id,
        project_id=run.project_id,
        path="a.txt",
        change_type="created",
        diff=unified_diff("a.txt", None, "one\n"),
        created_at=row.created_at,
        reverted=False,
    )


async def test_a_runs_changes_are_listed_oldest_first_and_a_projects_newest_first(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun, new_run: NewRun
) -> None:
    other = await new_run()
    await ProjectFiles(sessions, other.project_id, limits=FILE_LIMITS).write("o", "o", run_id=other.id)
    await project_files.write("a", "1", run_id=run.id)
    await project_files.write("b", "2", run_id=run.id)
    await project_files.write("a", "3", run_id=run.id)
    assert [(c.path, c.change_type) for c in await of_run(sessions, run.id)] == [
        ("a", "created"),
        ("b", "created"),
        ("a", "modified"),
    ]
    async with sessions() as session:
        listed = await changes.list_for_project(session, run.project_id)
    assert [(c.path, c.change_type, c.run_id) for c in listed] == [
        ("a", "modified", run.id),
        ("b", "created", run.id),
        ("a", "created", run.id),
    ]


async def test_reverting_one_change_restores_the_file_once(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    await project_files.write("a.txt", "one")
    _, edit = await project_files.write("a.txt", "two", run_id=run.id)
    assert edit is not None
    reverted = await changes.revert_change(sessions, edit.id)
    assert (reverted.id, reverted.path, reverted.change_type, reverted.reverted) == (edit.id, "a.txt", "modified", True)
    assert await contents(project_files) == {"a.txt": "one"}
    assert [c.reverted for c in await of_run(sessions, run.id)] == [True]
    with pytest.raises(Conflict) as again:
        await changes.revert_change(sessions, edit.id)
    assert again.value.message == f"code change {edit.id} is already reverted"
    with pytest.raises(NotFound) as missing:
        await changes.revert_change(sessions, edit.id + 1000)
    assert missing.value.message == f"code change {edit.id + 1000} does not exist"


async def test_reverting_a_created_file_deletes_it_and_a_deleted_one_brings_it_back(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    await project_files.write("old.txt", "kept")
    _, created = await project_files.write("new.txt", "made", run_id=run.id)
    deleted = await project_files.delete("old.txt", run_id=run.id)
    assert created is not None
    assert deleted is not None
    await changes.revert_change(sessions, created.id)
    assert await contents(project_files) == {}
    await changes.revert_change(sessions, deleted.id)
    assert await contents(project_files) == {"old.txt": "kept"}


async def test_a_file_edited_since_the_change_is_not_reverted(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    _, change = await project_files.write("a.txt", "agent", run_id=run.id)
    assert change is not None
    await project_files.write("a.txt", "user")
    with pytest.raises(Conflict) as refused:
        await changes.revert_change(sessions, change.id)
    assert refused.value.message == f"'a.txt' changed after change {change.id}; revert refused so no edit is lost"
    assert await contents(project_files) == {"a.txt": "user"}
    assert [c.reverted for c in await of_run(sessions, run.id)] == [False]


async def test_reverting_a_run_undoes_its_changes_newest_first(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    await project_files.write("kept.txt", "v0")
    await project_files.write("a.txt", "v1", run_id=run.id)
    await project_files.write("a.txt", "v2", run_id=run.id)
    await project_files.write("kept.txt", "v1", run_id=run.id)
    await project_files.write("a.txt", "v3", run_id=run.id)
    await project_files.delete("kept.txt", run_id=run.id)
    reverted = await changes.revert_run(sessions, run.id)
    assert [(c.path, c.change_type, c.reverted) for c in reverted] == [
        ("a.txt", "created", True),
        ("a.txt", "modified", True),
        ("kept.txt", "modified", True),
        ("a.txt", "modified", True),
        ("kept.txt", "deleted", True),
    ]
    assert await contents(project_files) == {"kept.txt": "v0"}
    assert all(c.reverted for c in await of_run(sessions, run.id))
    assert await changes.revert_run(sessions, run.id) == [], "nothing left to revert"


async def test_reverting_a_run_skips_changes_already_reverted(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    _, first = await project_files.write("a.txt", "a", run_id=run.id)
    _, second = await project_files.write("b.txt", "b", run_id=run.id)
    assert first is not None
    assert second is not None
    await changes.revert_change(sessions, second.id)
    reverted = await changes.revert_run(sessions, run.id)
    assert [c.id for c in reverted] == [first.id]
    assert await contents(project_files) == {}


async def test_one_conflicting_file_refuses_the_whole_run_revert(
    project_files: ProjectFiles, sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    await project_files.write("a.txt", "a", run_id=run.id)
    _, b = await project_files.write("b.txt", "b", run_id=run.id)
    assert b is not None
    await project_files.write("b.txt", "user")
    with pytest.raises(Conflict, match=f"^'b.txt' changed after change {b.id};"):
        await changes.revert_run(sessions, run.id)
    assert await contents(project_files) == {"a.txt": "a", "b.txt": "user"}
    assert [c.reverted for c in await of_run(sessions, run.id)] == [False, False]


async def test_a_runs_changes_are_ordered_by_id_not_by_storage(
    sessions: async_sessionmaker[AsyncSession], run: SeededRun
) -> None:
    async with sessions.begin() as session:  # stored newest id first: only the ORDER BY puts them right
        for change_id in (900_002, 900_001):
            session.add(
                CodeChangeRow(
                    id=change_id, project_id=run.project_id, run_id=run.id, path="a", change_type="created", diff=""
                )
            )
            await session.flush()
    assert [c.id for c in await of_run(sessions, run.id)] == [900_001, 900_002]
