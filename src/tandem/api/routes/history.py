from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi import Path as PathParam

from tandem.api.deps import Chat, CurrentUser, Database
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.routes.schemas import ChangeId, CommitOut, Id
from tandem.events import CodeChange
from tandem.persistence.models import INT_MAX
from tandem.services import commits, history
from tandem.services.commits import CodeChangeDetail
from tandem.services.history import MessageWithInteractions, SessionOut

router = APIRouter(tags=["history"], responses=ERROR_RESPONSES)


@router.get("/projects/{project_id}/sessions")
async def list_sessions(project_id: Id, db: Database, user: CurrentUser) -> list[SessionOut]:
    async with db() as session:
        return await history.list_sessions(session, user, project_id)


@router.get("/sessions/{session_id}")
async def get_session(session_id: Id, db: Database, user: CurrentUser) -> SessionOut:
    async with db() as session:
        return await history.get_session(session, user, session_id)


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_session(session_id: Id, db: Database, user: CurrentUser) -> Response:
    async with db.begin() as session:
        await history.delete_session(session, user, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions/{session_id}/messages")
async def list_messages(session_id: Id, db: Database, user: CurrentUser) -> list[MessageWithInteractions]:
    async with db() as session:
        return await history.messages(session, user, session_id)


@router.get("/projects/{project_id}/changes", tags=["changes"])
async def project_changes(project_id: Id, db: Database, user: CurrentUser) -> list[CodeChange]:
    async with db() as session:
        return await commits.project_changes(session, user, project_id)


@router.get("/changes/{change_id}", tags=["changes"])
async def get_change(change_id: ChangeId, db: Database, user: CurrentUser) -> CodeChangeDetail:
    async with db() as session:
        return await commits.change(session, user, change_id)


@router.post("/changes/{change_id}/revert", tags=["changes"])
async def revert_change(change_id: ChangeId, chat: Chat, user: CurrentUser) -> CodeChange:
    return await chat.revert_change(user, change_id)


CommitSha = Annotated[str, PathParam(pattern=r"^[0-9a-f]{40}$", description="A commit id (40 hex digits).")]


@router.get("/projects/{project_id}/history", tags=["changes"])
async def project_history(
    project_id: Id,
    db: Database,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=200, description="Commits per page, newest first.")] = 50,
    offset: Annotated[int, Query(ge=0, le=INT_MAX, description="Commits to skip.")] = 0,
) -> list[CommitOut]:
    """The project's history as Git commits, newest first, each with its diff against its parent:
    one commit per run that changed files, batched edits outside runs, reverts and restores."""
    async with db.begin() as session:
        return [
            CommitOut.model_validate(view)
            for view in await commits.history(session, user, project_id, limit=limit, offset=offset)
        ]


@router.post("/projects/{project_id}/history/{sha}/restore", tags=["changes"])
async def restore_commit(project_id: Id, sha: CommitSha, db: Database, user: CurrentUser) -> CommitOut:
    """Make the project's files exactly those of commit `sha`, as a new commit (nothing is lost:
    the commits after it stay, and uncommitted edits are committed first). 409 during a run."""
    async with db.begin() as session:
        return CommitOut.model_validate(await commits.restore(session, user, project_id, sha))
