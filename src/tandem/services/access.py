"""Who may do what to a project, and to everything in it (sessions, runs, changes, files).

A project belongs to its owner, who may share it with other users, read-only or read-write. A
project (or anything in it) the caller may not see is answered exactly like one that does not
exist (404), so ids reveal nothing; one they may see but not change is 403.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import Forbidden, NotFound
from tandem.persistence.database import get_or_404
from tandem.persistence.models import ChatSession, CodeChangeRow, Project, ProjectShare, Run
from tandem.services.principal import Principal

Role = Literal["read", "write", "owner"]
SHARE_ROLES: tuple[Role, ...] = ("read", "write")
_RANK: dict[str, int] = {"read": 1, "write": 2, "owner": 3}


def visible(user: Principal) -> ColumnElement[bool]:
    """The projects `user` owns or that are shared with them."""
    shared = select(ProjectShare.project_id).where(ProjectShare.user_id == user.id)
    return or_(Project.owner_id == user.id, Project.id.in_(shared))


async def role(session: AsyncSession, user: Principal, project_id: int) -> Role | None:
    row = (
        await session.execute(
            select(Project.owner_id, ProjectShare.role)
            .outerjoin(ProjectShare, (ProjectShare.project_id == Project.id) & (ProjectShare.user_id == user.id))
            .where(Project.id == project_id)
        )
    ).first()
    if row is None:
        return None
    owner_id, shared = row
    if owner_id == user.id:
        return "owner"
    return "write" if shared == "write" else "read" if shared == "read" else None


async def require(
    session: AsyncSession, user: Principal, project_id: int, need: Role, *, thing: str | None = None
) -> Role:
    """The caller's role on the project, if it is at least `need`; `thing` names what was asked for
    (a session, run or change in the project), so a 404 says no more than that thing's id."""
    name = thing or f"project {project_id}"
    found = await role(session, user, project_id)
    if found is None:
        raise NotFound(f"{name} does not exist")
    if _RANK[found] < _RANK[need]:
        raise Forbidden(f"{name}: you have {found} access and this needs {need}; ask the project's owner")
    return found


async def project(session: AsyncSession, user: Principal, project_id: int, need: Role) -> Project:
    await require(session, user, project_id, need)
    found = await session.get(Project, project_id)
    assert found is not None  # just seen, in this transaction
    return found


_InProject = TypeVar("_InProject", ChatSession, Run, CodeChangeRow)


async def _in_project(
    session: AsyncSession, user: Principal, kind: type[_InProject], key: int | str, label: str, need: Role
) -> _InProject:
    """The row of `kind` with `key`, if `user` has `need` access to its project (else as absent)."""
    row = await get_or_404(session, kind, key, label)
    await require(session, user, row.project_id, need, thing=label)
    return row


async def chat_session(session: AsyncSession, user: Principal, session_id: int, need: Role) -> ChatSession:
    return await _in_project(session, user, ChatSession, session_id, f"session {session_id}", need)


async def run(session: AsyncSession, user: Principal, run_id: str, need: Role) -> Run:
    return await _in_project(session, user, Run, run_id, f"run {run_id}", need)


async def change(session: AsyncSession, user: Principal, change_id: int, need: Role) -> CodeChangeRow:
    return await _in_project(session, user, CodeChangeRow, change_id, f"code change {change_id}", need)
