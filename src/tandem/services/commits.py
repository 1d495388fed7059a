"""A project's history, as a user may see and use it: its Git commits (`tandem.workspace.git_history`)
and the code changes its runs made (`tandem.workspace.changes`)."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.events import CodeChange
from tandem.services import access, audit, projects
from tandem.services.principal import Principal
from tandem.workspace import changes, git_history
from tandem.workspace.git_history import CommitView


class CodeChangeDetail(CodeChange):
    """One change with the whole file on both sides, for a side-by-side view."""

    before: str | None = Field(description="The file before the change; null when the change created it.")
    after: str | None = Field(description="The file after the change; null when the change deleted it.")


async def history(
    session: AsyncSession, user: Principal, project_id: int, *, limit: int, offset: int
) -> list[CommitView]:
    """Newest first. Edits not committed yet are committed first (they are batched until someone
    looks or a run starts), except during a run, whose own commit will hold what it changes."""
    await access.require(session, user, project_id, "read")
    await git_history.commit_edits(session, project_id)
    return await git_history.log(session, project_id, limit=limit, offset=offset)


async def restore(session: AsyncSession, user: Principal, project_id: int, sha: str) -> CommitView:
    """Make the project's files those of commit `sha`, as a new commit."""
    await access.require(session, user, project_id, "write")
    await projects.require_idle(session, project_id, "restoring")
    await git_history.restore(session, project_id, sha)
    await audit.record(session, user, "project.restore", f"project {project_id} to {sha}")
    # The restore's commit, or the head already holding exactly those files.
    return (await git_history.log(session, project_id, limit=1, offset=0))[0]


async def project_changes(session: AsyncSession, user: Principal, project_id: int) -> list[CodeChange]:
    """Newest first."""
    await access.require(session, user, project_id, "read")
    return await changes.list_for_project(session, project_id)


async def change(session: AsyncSession, user: Principal, change_id: int) -> CodeChangeDetail:
    return CodeChangeDetail.model_validate(await access.change(session, user, change_id, "read"))
