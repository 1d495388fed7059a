"""Projects: creating them (from templates here; imports in `tandem.services.imports`), naming, sharing,
their files, exporting, deleting."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Busy, Conflict, InvalidInput, LimitReached
from tandem.persistence.database import get_or_404
from tandem.persistence.models import Project, ProjectFile, ProjectShare, Run, User
from tandem.runs.store import active_run_id
from tandem.services import access, audit
from tandem.services.access import Role
from tandem.services.accounts import user_named
from tandem.services.principal import Principal
from tandem.settings import Settings
from tandem.workspace.archive import zip_project
from tandem.workspace.files import FileLimits, ProjectFiles
from tandem.workspace.templates import TEMPLATES, Template


@dataclass(frozen=True, kw_only=True)
class ProjectLimits:
    max_projects: int
    """On the server, all users together (TANDEM_MAX_PROJECTS)."""
    max_projects_per_user: int
    """Owned by one user (TANDEM_MAX_PROJECTS_PER_USER)."""

    @classmethod
    def of(cls, settings: Settings) -> ProjectLimits:
        return cls(max_projects=settings.max_projects, max_projects_per_user=settings.max_projects_per_user)


NAME_MAX = 200
"""The `projects.name` column's length."""
_NUMBER_ROOM = len(" (1000000)")


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("project name is empty")
    return name[:NAME_MAX].rstrip()


async def create(
    session: AsyncSession, owner: Principal, name: str, template: str, *, limits: ProjectLimits
) -> Project:
    chosen = TEMPLATES.get(template)
    if chosen is None:
        raise InvalidInput(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    project = await add(session, owner, name, template, limits=limits)
    session.add_all(
        ProjectFile(project_id=project.id, path=path, content=content, size=len(content.encode()))
        for path, content in chosen.files.items()
    )
    await session.flush()
    await audit.record(session, owner, "project.create", f"project {project.id} ({project.name})")
    return project


async def _taken(session: AsyncSession, owner_id: int, name: str) -> set[str]:
    """The owner's project names that are `name` or `name (n)`."""
    return set(
        await session.scalars(
            select(Project.name).where(
                Project.owner_id == owner_id,
                or_(Project.name == name, Project.name.startswith(f"{name} (", autoescape=True)),
            )
        )
    )


async def _free_name(session: AsyncSession, owner_id: int, name: str) -> str:
    """`name`, or the first free `name (2)`, `name (3)`…: two projects of one owner never share a name,
    and creating or importing one twice is not an error (as a file manager numbers a second copy)."""
    taken = await _taken(session, owner_id, name)
    if name not in taken:
        return name
    if len(name) > NAME_MAX - _NUMBER_ROOM:  # shortened, so that its number still fits the column
        name = name[: NAME_MAX - _NUMBER_ROOM].rstrip()
        taken = await _taken(session, owner_id, name)
    return next(f"{name} ({n})" for n in itertools.count(2) if f"{name} ({n})" not in taken)


async def add(session: AsyncSession, owner: Principal, name: str, origin: str, *, limits: ProjectLimits) -> Project:
    """A new empty project of `owner` (`origin`: its template, or where it was imported from), within the limits."""
    # The owner's row lock serialises their creations across processes: two cannot both see the last free place.
    # NO KEY UPDATE: rows that merely reference the user (audit events) are not held up.
    await session.get(User, owner.id, with_for_update={"key_share": True})
    owned = await session.scalar(select(func.count()).select_from(Project).where(Project.owner_id == owner.id))
    if owned is not None and owned >= limits.max_projects_per_user:
        raise LimitReached(
            f"you own {owned} projects, the limit per user (TANDEM_MAX_PROJECTS_PER_USER); delete one first"
        )
    count = await session.scalar(select(func.count()).select_from(Project))
    if count is not None and count >= limits.max_projects:
        raise LimitReached(f"the server holds {count} projects, the limit (TANDEM_MAX_PROJECTS); delete one first")
    project = Project(name=await _free_name(session, owner.id, _clean_name(name)), template=origin, owner_id=owner.id)
    session.add(project)
    await session.flush()
    return project


@dataclass(frozen=True, kw_only=True)
class ProjectView:
    """A project as its caller sees it (`ProjectOut` reads it): the row, who owns it, what runs in it."""

    id: int
    name: str
    template: str
    created_at: datetime
    updated_at: datetime
    active_run_id: str | None
    owner: str
    role: Role
    """The caller's: owner, or the role the project is shared with them."""

    @classmethod
    def of(cls, project: Project, *, active_run_id: str | None, owner: str, role: Role) -> ProjectView:
        return cls(
            id=project.id,
            name=project.name,
            template=project.template,
            created_at=project.created_at,
            updated_at=project.updated_at,
            active_run_id=active_run_id,
            owner=owner,
            role=role,
        )


@dataclass(frozen=True, kw_only=True)
class ProjectPage:
    projects: list[ProjectView]
    total: int


async def list_page(session: AsyncSession, user: Principal, *, limit: int, offset: int) -> ProjectPage:
    """The projects `user` owns or may see, newest first; two statements whatever their number."""
    rows = await session.execute(
        select(Project, Run.id, User.name, ProjectShare.role)
        .join(User, User.id == Project.owner_id)
        .outerjoin(Run, Run.active_project_id == Project.id)
        .outerjoin(ProjectShare, (ProjectShare.project_id == Project.id) & (ProjectShare.user_id == user.id))
        .where(access.visible(user))
        .order_by(Project.updated_at.desc(), Project.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = await session.scalar(select(func.count()).select_from(Project).where(access.visible(user)))
    views = [
        ProjectView.of(
            project,
            active_run_id=run_id,
            owner=owner,
            role="owner" if project.owner_id == user.id else "write" if shared == "write" else "read",
        )
        for project, run_id, owner, shared in rows
    ]
    return ProjectPage(projects=views, total=total or 0)


async def view(session: AsyncSession, user: Principal, project_id: int) -> ProjectView:
    role = await access.require(session, user, project_id, "read")
    project = await session.get(Project, project_id)
    assert project is not None  # just seen, in this transaction
    owner = await session.get(User, project.owner_id)
    assert owner is not None  # the foreign key
    return ProjectView.of(project, active_run_id=await active_run_id(session, project_id), owner=owner.name, role=role)


async def rename(session: AsyncSession, user: Principal, project_id: int, name: str) -> ProjectView:
    project = await access.project(session, user, project_id, "write")
    name = _clean_name(name)
    if name != project.name and name in await _taken(session, project.owner_id, name):
        raise Conflict(f"a project named {name!r} already exists; choose another name")
    project.name = name
    await session.flush()
    return await view(session, user, project_id)


async def delete_owned(session: AsyncSession, user: Principal, project_id: int) -> None:
    """Only the owner deletes a project."""
    await access.require(session, user, project_id, "owner")
    await remove(session, project_id)
    await audit.record(session, user, "project.delete", f"project {project_id}")


async def shares(session: AsyncSession, user: Principal, project_id: int) -> list[tuple[str, str]]:
    """Who the project is shared with, and how: (user name, role)."""
    await access.require(session, user, project_id, "read")
    rows = await session.execute(
        select(User.name, ProjectShare.role)
        .join(User, User.id == ProjectShare.user_id)
        .where(ProjectShare.project_id == project_id)
        .order_by(User.name)
    )
    return [(name, role) for name, role in rows]


async def share(session: AsyncSession, user: Principal, project_id: int, name: str, role: Role) -> None:
    """Give `name` read or write access (or change theirs); only the owner shares."""
    await access.require(session, user, project_id, "owner")
    other = await user_named(session, name)
    if other.id == user.id:
        raise InvalidInput("you own this project; share it with someone else")
    existing = await session.get(ProjectShare, (project_id, other.id))
    if existing is None:
        session.add(ProjectShare(project_id=project_id, user_id=other.id, role=role))
    else:
        existing.role = role
    await audit.record(session, user, "project.share", f"project {project_id} with {name} ({role})")


async def unshare(session: AsyncSession, user: Principal, project_id: int, name: str) -> None:
    await access.require(session, user, project_id, "owner")
    other = await user_named(session, name)
    existing = await get_or_404(
        session, ProjectShare, (project_id, other.id), f"a share of project {project_id} with {name!r}"
    )
    await session.delete(existing)
    await audit.record(session, user, "project.unshare", f"project {project_id} with {name}")


async def require_idle(session: AsyncSession, project_id: int, doing: str) -> None:
    """Busy while a run is active on the project: what the agents write must not be overwritten."""
    if (run_id := await active_run_id(session, project_id)) is not None:
        raise Busy(f"project {project_id} has an active run ({run_id}); wait for it or cancel it before {doing}")


async def remove(session: AsyncSession, project_id: int) -> None:
    # The row lock orders this against a run starting (`RunManager._create` share-locks the
    # project): either that run is visible below, or it finds the project gone.
    project = await get_or_404(session, Project, project_id, f"project {project_id}", with_for_update=True)
    await require_idle(session, project_id, "deleting it")
    await session.execute(delete(Project).where(Project.id == project.id))


def templates() -> list[Template]:
    return list(TEMPLATES.values())


async def files(
    sessions: async_sessionmaker[AsyncSession], user: Principal, project_id: int, need: Role, settings: Settings
) -> ProjectFiles:
    """The project's files, if `user` has `need` access to it."""
    async with sessions() as session:
        await access.require(session, user, project_id, need)
    return ProjectFiles(sessions, project_id, limits=FileLimits.of(settings))


@dataclass(frozen=True, kw_only=True)
class Export:
    name: str
    """The project's."""
    zip: AsyncIterator[bytes]


async def export(
    sessions: async_sessionmaker[AsyncSession], user: Principal, project_id: int, *, per_minute: int
) -> Export:
    """The project's files as a zip, streamed."""
    project = await count_export(sessions, user, project_id, per_minute=per_minute)
    return Export(name=project.name, zip=zip_project(sessions, project_id))


async def count_export(
    sessions: async_sessionmaker[AsyncSession], user: Principal, project_id: int, *, per_minute: int
) -> Project:
    """The project, if `user` may read it, with one more export (zip or Git bundle) counted
    (TANDEM_DOWNLOADS_PER_MINUTE) and audited."""
    async with sessions.begin() as session:
        project = await access.project(session, user, project_id, "read")
        await audit.throttle(
            session,
            action="project.export",
            limit=per_minute,
            setting="TANDEM_DOWNLOADS_PER_MINUTE",
            what="downloads by you",
            user_id=user.id,
        )
        await audit.record(session, user, "project.export", f"project {project_id} ({project.name})")
    return project
