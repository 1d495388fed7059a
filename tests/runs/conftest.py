from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.runs import committer as committer_module
from tandem.runs.committer import Batch


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
