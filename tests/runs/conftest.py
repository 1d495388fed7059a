from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.persistence.models import ChatSession, Message, Project, Run
from tests.support import SeededRun

NewRun = Callable[[], Awaitable[SeededRun]]


@pytest.fixture
def new_run(sessions: async_sessionmaker[AsyncSession]) -> NewRun:
    """Creates a `running` run with its project, chat and messages, as the run manager does."""

    async def create() -> SeededRun:
        run_id = str(uuid.uuid4())
        async with sessions.begin() as session:
            project = Project(name="p", template="blank")
            session.add(project)
            await session.flush()
            chat = ChatSession(project_id=project.id, title="t")
            session.add(chat)
            await session.flush()
            user = Message(session_id=chat.id, role="user", content="hi")
            assistant = Message(session_id=chat.id, role="assistant")
            session.add_all([user, assistant])
            await session.flush()
            session.add(
                Run(
                    id=run_id,
                    project_id=project.id,
                    session_id=chat.id,
                    user_message_id=user.id,
                    assistant_message_id=assistant.id,
                    active_project_id=project.id,
                    status="running",
                )
            )
        return SeededRun(run_id, assistant.id)

    return create


@pytest.fixture
async def run(new_run: NewRun) -> SeededRun:
    return await new_run()
