from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from pydantic_ai.messages import TextPart
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.team import Team
from tandem.runs import committer as committer_module
from tandem.runs.cancellation import CancelHandler
from tandem.runs.committer import Batch
from tandem.services import projects
from tandem.services.accounts import LOCAL
from tandem.settings import RunLimits
from tests.playbook import Playbook
from tests.support import UNLIMITED_PROJECTS


@dataclass
class Script:
    """What the next run's team plays; a test sets it before starting the run."""

    planner: Playbook = field(default_factory=lambda: Playbook([[TextPart("Nothing to do.")]] * 10))
    coder: Playbook = field(default_factory=lambda: Playbook([]))
    streaming: bool = False
    model_requests: int = 50
    broken: Exception | None = None
    """Raised instead of building the team."""

    async def team(self) -> Team:
        """The manager's team factory: a new team for each run, as `Teams` gives one per setup."""
        if self.broken is not None:
            raise self.broken
        return Team(
            planner_model=self.planner.model(),
            coder_model=self.coder.model(),
            streaming=self.streaming,
            limits=RunLimits(model_requests=self.model_requests),
        )


class SharedCancelBus:
    """A cancel bus every manager of the test listens on, as on Redis with several processes."""

    def __init__(self) -> None:
        self.handlers: list[CancelHandler] = []
        self.published: list[str] = []

    async def start(self, handler: CancelHandler) -> None:
        self.handlers.append(handler)

    async def publish(self, run_id: str) -> None:
        self.published.append(run_id)
        for handler in self.handlers:
            handler(run_id)

    async def close(self) -> None:
        pass


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def bus() -> SharedCancelBus:
    return SharedCancelBus()


async def new_project(sessions: async_sessionmaker[AsyncSession], name: str = "p") -> int:
    async with sessions.begin() as session:
        project = await projects.create(session, LOCAL, name, "blank", limits=UNLIMITED_PROJECTS)
        return project.id


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
