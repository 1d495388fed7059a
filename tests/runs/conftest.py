from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.persistence.models import ChatSession, Message, Project, Run
from tandem.runs import committer as committer_module
from tandem.runs.committer import Batch
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


@dataclass(frozen=True)
class Gate:
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once a group commit has taken its batches and waits at the gate."""
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the test to let the commits through."""


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    """Holds every group commit at its start until opened: lets a test act while a batch is being written."""
    gate = Gate()
    write = committer_module.write_batches

    async def gated(session: AsyncSession, batches: Sequence[Batch]) -> set[str]:
        gate.reached.set()
        await gate.opened.wait()
        return await write(session, batches)

    monkeypatch.setattr(committer_module, "write_batches", gated)
    return gate
