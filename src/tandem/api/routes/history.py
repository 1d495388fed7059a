from __future__ import annotations

from fastapi import APIRouter, Response, status

from tandem.api.deps import Chat, CurrentUser, Database
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.routes.schemas import ChangeId, Id
from tandem.events import CodeChange
from tandem.services import access, history
from tandem.services.history import MessageWithInteractions, SessionOut
from tandem.workspace import changes

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
        await access.require(session, user, project_id, "read")
        return await changes.list_for_project(session, project_id)


@router.get("/changes/{change_id}", tags=["changes"])
async def get_change(change_id: ChangeId, db: Database, user: CurrentUser) -> changes.CodeChangeDetail:
    async with db() as session:
        return changes.detail(await access.change(session, user, change_id, "read"))


@router.post("/changes/{change_id}/revert", tags=["changes"])
async def revert_change(change_id: ChangeId, chat: Chat, user: CurrentUser) -> CodeChange:
    return await chat.revert_change(user, change_id)
