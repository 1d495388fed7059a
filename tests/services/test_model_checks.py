"""Model checks kept in the database, shared by every process (`keep`)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.check_report import CheckStep, ModelCheck
from tandem.persistence.models import ModelCheckRow
from tandem.services.model_checks import keep


def _check(context_window: int) -> ModelCheck:
    return ModelCheck(
        model="openai:fake-model",
        base_url="http://models.example/v1",
        ok=True,
        streaming=True,
        null_content_rejected=False,
        context_window=context_window,
        steps=[CheckStep(name="reachable", ok=True, detail="The model server answers.")],
        checked_at=datetime.now(UTC),
    )


async def test_two_processes_keeping_a_check_of_one_model_at_once_both_succeed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    base_url = f"http://{uuid.uuid4().hex}.example/v1"  # the suite's PostgreSQL database is shared

    async def a_process_keeps(check: ModelCheck) -> None:
        async with sessions.begin() as session:
            await keep(session, base_url, check)

    for attempt in range(5):
        await asyncio.gather(*(a_process_keeps(_check(1000 * attempt + n)) for n in (1, 2)))

    async with sessions() as session:
        rows = (await session.scalars(select(ModelCheckRow).where(ModelCheckRow.base_url == base_url))).all()
    assert len(rows) == 1, "one check per model and server, the last kept"
    assert rows[0].result["context_window"] in {4001, 4002}
