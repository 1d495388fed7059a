"""Chat sessions and their messages, with the agent interactions each run streamed."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import Busy
from tandem.events import AgentInteractionData, ChatMessage, Usage
from tandem.persistence.database import get_or_404
from tandem.persistence.models import AgentInteraction, ChatSession, Message, Run
from tandem.services import access
from tandem.services.principal import Principal


class Interaction(AgentInteractionData):
    model_config = ConfigDict(from_attributes=True)

    seq: int


class MessageWithInteractions(ChatMessage):
    run_id: str | None
    run_status: str | None
    error_code: str | None
    error_message: str | None
    agent_interactions: list[Interaction]
    usage: dict[str, Usage] = Field(
        default_factory=dict, description="The assistant message's run: tokens and estimated cost per agent."
    )


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    title: str
    created_at: datetime
    updated_at: datetime


async def list_sessions(session: AsyncSession, user: Principal, project_id: int) -> list[SessionOut]:
    await access.require(session, user, project_id, "read")
    rows = await session.scalars(
        select(ChatSession)
        .where(ChatSession.project_id == project_id)
        .order_by(ChatSession.updated_at.desc(), ChatSession.id.desc())
    )
    return [SessionOut.model_validate(row) for row in rows]


async def get_session(session: AsyncSession, user: Principal, session_id: int) -> SessionOut:
    return SessionOut.model_validate(await access.chat_session(session, user, session_id, "read"))


async def delete_session(session: AsyncSession, user: Principal, session_id: int) -> None:
    """Delete a session and its history; refused while one of its runs is active, whose stream
    would otherwise lose its run mid-way and never end."""
    # The row lock orders this against a run starting in the session (`RunManager._create`
    # locks it too): either that run is visible below, or it finds the session gone.
    row = await get_or_404(session, ChatSession, session_id, f"session {session_id}", with_for_update=True)
    await access.require(session, user, row.project_id, "write", thing=f"session {session_id}")
    active = await session.scalar(
        select(Run.id).where(Run.session_id == session_id, Run.active_project_id.is_not(None))
    )
    if active is not None:
        raise Busy(f"session {session_id} has an active run ({active}); cancel it or wait for it to end first")
    await session.delete(row)


async def interactions_of_run(session: AsyncSession, run_id: str) -> list[Interaction]:
    rows = await session.scalars(
        select(AgentInteraction).where(AgentInteraction.run_id == run_id).order_by(AgentInteraction.seq)
    )
    return [Interaction.model_validate(row) for row in rows]


async def messages(session: AsyncSession, user: Principal, session_id: int) -> list[MessageWithInteractions]:
    await access.chat_session(session, user, session_id, "read")
    rows = list(await session.scalars(select(Message).where(Message.session_id == session_id).order_by(Message.id)))
    runs = {run.id: run for run in await session.scalars(select(Run).where(Run.session_id == session_id))}
    by_message: dict[int, list[Interaction]] = defaultdict(list)
    for interaction in await session.scalars(
        select(AgentInteraction)
        .where(AgentInteraction.message_id.in_([m.id for m in rows]))
        .order_by(AgentInteraction.message_id, AgentInteraction.seq)
    ):
        by_message[interaction.message_id].append(Interaction.model_validate(interaction))
    result = []
    for row in rows:
        run = runs.get(row.run_id) if row.run_id else None
        result.append(
            MessageWithInteractions(
                **ChatMessage.model_validate(row).model_dump(),
                run_id=row.run_id,
                run_status=run.status if run else None,
                error_code=run.error_code if run and row.role == "assistant" else None,
                error_message=run.error_message if run and row.role == "assistant" else None,
                agent_interactions=by_message.get(row.id, []),
                usage={name: Usage(**u) for name, u in run.usage.items()} if run and row.role == "assistant" else {},
            )
        )
    return result
