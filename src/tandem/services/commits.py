"""A project's history as Git commits (`tandem.workspace.git_history`), as a user may see and use it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import Busy
from tandem.runs.store import active_run_id
from tandem.services import access, audit
from tandem.services.accounts import Principal
from tandem.workspace import git_history
from tandem.workspace.git_history import CommitView


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
    active = await active_run_id(session, project_id)
    if active is not None:
        raise Busy(f"project {project_id} has an active run ({active}); wait for it or cancel it before restoring")
    await git_history.restore(session, project_id, sha)
    await audit.record(session, user, "project.restore", f"project {project_id} to {sha}")
    # The restore's commit, or the head already holding exactly those files.
    return (await git_history.log(session, project_id, limit=1, offset=0))[0]
