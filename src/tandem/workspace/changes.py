"""Code changes made by runs, and reverting them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Conflict
from tandem.events import CodeChange
from tandem.persistence.database import get_or_404
from tandem.persistence.models import CodeChangeRow, ProjectFile
from tandem.workspace import git_history
from tandem.workspace.files import put_file


async def list_for_run(session: AsyncSession, run_id: str) -> list[CodeChange]:
    rows = await session.scalars(select(CodeChangeRow).where(CodeChangeRow.run_id == run_id).order_by(CodeChangeRow.id))
    return [CodeChange.model_validate(row) for row in rows]


async def list_for_project(session: AsyncSession, project_id: int) -> list[CodeChange]:
    rows = await session.scalars(
        select(CodeChangeRow).where(CodeChangeRow.project_id == project_id).order_by(CodeChangeRow.id.desc())
    )
    return [CodeChange.model_validate(row) for row in rows]


async def _revert_rows(session: AsyncSession, rows: list[CodeChangeRow], message: str) -> None:
    """Undo `rows` newest first, as one new commit; refuse all of them if any file changed since its change."""
    if not rows:
        return
    project_id = rows[0].project_id
    await git_history.commit_edits(session, project_id)  # edits before the revert stay apart from it
    current: dict[str, str | None] = {}
    for row in rows:
        if row.path not in current:
            file = await session.scalar(
                select(ProjectFile).where(ProjectFile.project_id == row.project_id, ProjectFile.path == row.path)
            )
            current[row.path] = file.content if file is not None else None
    for row in rows:  # newest first: each change must find the file exactly as it left it
        if current[row.path] != row.after:
            raise Conflict(f"{row.path!r} changed after change {row.id}; revert refused so no edit is lost")
        current[row.path] = row.before
    for row in rows:
        await put_file(session, row.project_id, row.path, row.before)
        row.reverted = True
    await git_history.commit(session, project_id, kind="revert", message=message, author=git_history.EDITOR)


async def revert_change(sessions: async_sessionmaker[AsyncSession], change_id: int) -> CodeChange:
    async with sessions.begin() as session:
        row = await get_or_404(session, CodeChangeRow, change_id, f"code change {change_id}")
        if row.reverted:
            raise Conflict(f"code change {change_id} is already reverted")
        await _revert_rows(session, [row], f"Revert change {change_id} ({row.path})")
        return CodeChange.model_validate(row)


async def revert_run(sessions: async_sessionmaker[AsyncSession], run_id: str) -> list[CodeChange]:
    async with sessions.begin() as session:
        rows = list(
            await session.scalars(
                select(CodeChangeRow)
                .where(CodeChangeRow.run_id == run_id, CodeChangeRow.reverted.is_(False))
                .order_by(CodeChangeRow.id.desc())
            )
        )
        await _revert_rows(session, rows, f"Revert run {run_id}")
        return [CodeChange.model_validate(row) for row in reversed(rows)]
