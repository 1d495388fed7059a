"""Listing projects costs the same few statements however many projects (and active runs) there are."""

from __future__ import annotations

import uuid

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tandem.persistence.database import create_sessionmaker, migrate
from tandem.persistence.models import ChatSession, Message, Project, Run
from tandem.services import projects
from tandem.services.accounts import LOCAL


async def start_run(sessions: async_sessionmaker[AsyncSession], project_id: int) -> str:
    run_id = str(uuid.uuid4())
    async with sessions.begin() as session:
        chat = ChatSession(project_id=project_id, title="t")
        session.add(chat)
        await session.flush()
        user = Message(session_id=chat.id, role="user", content="hi")
        assistant = Message(session_id=chat.id, role="assistant")
        session.add_all([user, assistant])
        await session.flush()
        session.add(
            Run(
                id=run_id,
                project_id=project_id,
                session_id=chat.id,
                user_message_id=user.id,
                assistant_message_id=assistant.id,
                active_project_id=project_id,
            )
        )
    return run_id


async def test_a_page_costs_two_selects_whatever_the_number_of_projects(engine: AsyncEngine) -> None:
    await migrate(engine)
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as session:
        created = [Project(name=f"p{i}", template="blank") for i in range(150)]
        session.add_all(created)
    ids = [p.id for p in created]
    active = {project_id: await start_run(sessions, project_id) for project_id in ids[::7]}

    selects: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    pages: dict[int, projects.ProjectPage] = {}
    cost: dict[int, int] = {}
    for limit in (3, 150):
        selects.clear()
        async with sessions() as session:
            pages[limit] = await projects.list_page(session, LOCAL, limit=limit, offset=0)
        cost[limit] = len(selects)
    event.remove(engine.sync_engine, "before_cursor_execute", count)

    assert cost == {3: 2, 150: 2}, "one for the page with its active runs, one for the total"
    everything = pages[150]
    assert everything.total == 150
    assert [view.id for view in everything.projects] == sorted(ids, reverse=True), "newest first"
    assert {view.id: view.active_run_id for view in everything.projects if view.active_run_id} == active
    assert [view.id for view in pages[3].projects] == sorted(ids, reverse=True)[:3]
