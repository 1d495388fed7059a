"""The chat service: a user message in, a run of the team out, as a live stream or as JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import NotFound
from tandem.events import ChatMessage, CodeChange, Usage
from tandem.persistence.models import Message, Run
from tandem.runs.manager import RunManager
from tandem.services.history import Interaction, interactions_of_run, message_out
from tandem.workspace import changes


class ChatResponse(BaseModel):
    session_id: int
    run_id: str
    status: str
    message: ChatMessage
    code_changes: list[CodeChange]
    agent_interactions: list[Interaction]
    usage: dict[str, Usage]
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, kw_only=True)
class ChatStream:
    run: Run
    frames: AsyncIterator[bytes]


class ChatService:
    def __init__(self, *, runs: RunManager, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._runs = runs
        self._sessions = sessions

    async def process_chat_message_stream(
        self, project_id: int, message: str, *, session_id: int | None, idempotency_key: str | None = None
    ) -> ChatStream:
        """Start a run (or find the one this idempotency key started) and follow its events."""
        started = await self._runs.start(project_id, message, session_id=session_id, idempotency_key=idempotency_key)
        return ChatStream(run=started.run, frames=self._runs.follow(started.run.id))

    async def process_chat_message(
        self, project_id: int, message: str, *, session_id: int | None, idempotency_key: str | None = None
    ) -> ChatResponse:
        started = await self._runs.start(project_id, message, session_id=session_id, idempotency_key=idempotency_key)
        run = await self._runs.wait(started.run.id)
        async with self._sessions() as session:
            assistant = await session.get(Message, run.assistant_message_id)
            if assistant is None:
                raise NotFound(f"message {run.assistant_message_id} does not exist")
            return ChatResponse(
                session_id=run.session_id,
                run_id=run.id,
                status=run.status,
                message=message_out(assistant),
                code_changes=await changes.list_for_run(session, run.id),
                agent_interactions=await interactions_of_run(session, run.id),
                usage={name: Usage(**u) for name, u in run.usage.items()},
                error_code=run.error_code,
                error_message=run.error_message,
            )
