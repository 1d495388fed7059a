"""Projects: creating them (from templates here; imports in `tandem.services.imports`), naming, deleting."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import Busy, InvalidInput, LimitReached, NotFound
from tandem.persistence.models import Project, ProjectFile, Run
from tandem.workspace.templates import TEMPLATES


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("project name is empty")
    return name


async def create(session: AsyncSession, name: str, template: str, *, max_projects: int) -> Project:
    chosen = TEMPLATES.get(template)
    if chosen is None:
        raise InvalidInput(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    project = await add(session, name, template, max_projects=max_projects)
    session.add_all(
        ProjectFile(project_id=project.id, path=path, content=content, size=len(content.encode()))
        for path, content in chosen.files.items()
    )
    await session.flush()
    return project


async def add(session: AsyncSession, name: str, origin: str, *, max_projects: int) -> Project:
    """A new empty project (`origin`: its template, or where it was imported from), within the limit."""
    count = await session.scalar(select(func.count()).select_from(Project))
    if count is not None and count >= max_projects:
        raise LimitReached(f"the server holds {count} projects, the limit (TANDEM_MAX_PROJECTS); delete one first")
    project = Project(name=_clean_name(name), template=origin)
    session.add(project)
    await session.flush()
    return project


async def get(session: AsyncSession, project_id: int) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    return project


@dataclass(frozen=True, kw_only=True)
class ProjectPage:
    projects: list[tuple[Project, str | None]]
    """Each project with the id of its active run, if any."""
    total: int


async def list_page(session: AsyncSession, *, limit: int, offset: int) -> ProjectPage:
    """Newest first; two statements whatever the number of projects."""
    rows = await session.execute(
        select(Project, Run.id)
        .outerjoin(Run, Run.active_project_id == Project.id)
        .order_by(Project.updated_at.desc(), Project.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = await session.scalar(select(func.count()).select_from(Project))
    return ProjectPage(projects=[(project, run_id) for project, run_id in rows], total=total or 0)


async def rename(session: AsyncSession, project_id: int, name: str) -> Project:
    project = await get(session, project_id)
    project.name = _clean_name(name)
    await session.flush()
    return project


async def remove(session: AsyncSession, project_id: int) -> None:
    # The row lock orders this against a run starting (`RunManager._create` share-locks the
    # project): either that run is visible below, or it finds the project gone.
    project = await session.get(Project, project_id, with_for_update=True)
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    if (run_id := await active_run_id(session, project_id)) is not None:
        raise Busy(f"project {project_id} has an active run ({run_id}); cancel it first")
    await session.execute(delete(Project).where(Project.id == project.id))


async def active_run_id(session: AsyncSession, project_id: int) -> str | None:
    return await session.scalar(select(Run.id).where(Run.active_project_id == project_id))
