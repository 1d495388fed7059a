"""The chat service: a user message in, a run of the team out, as a live stream or as JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.events import ChatMessage, CodeChange, Usage
from tandem.persistence.database import get_or_404
from tandem.persistence.models import Message, Run
from tandem.runs.manager import RunManager, RunStarted
from tandem.services import access, audit
from tandem.services.access import Role
from tandem.services.history import Interaction, interactions_of_run
from tandem.services.principal import Principal
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
    """Runs as a user sees them: started, followed, cancelled and reverted only in projects they may
    see (and, to change anything, write), within their per-user limits, each change audited."""

    def __init__(self, *, runs: RunManager, sessions: async_sessionmaker[AsyncSession], runs_per_minute: int) -> None:
        self._runs = runs
        self._sessions = sessions
        self._runs_per_minute = runs_per_minute

    async def _start(
        self, user: Principal, project_id: int, message: str, session_id: int | None, idempotency_key: str | None
    ) -> RunStarted:
        async with self._sessions() as session:
            await access.require(session, user, project_id, "write")
            await audit.throttle(
                session,
                action="run.start",
                limit=self._runs_per_minute,
                setting="TANDEM_RUNS_PER_MINUTE",
                what="runs started by you",
                user_id=user.id,
            )
        started = await self._runs.start(
            project_id, message, session_id=session_id, idempotency_key=idempotency_key, user_id=user.id
        )
        if started.created:
            async with self._sessions.begin() as session:
                await audit.record(session, user, "run.start", f"run {started.run.id} in project {project_id}")
        return started

    async def process_chat_message_stream(
        self,
        user: Principal,
        project_id: int,
        message: str,
        *,
        session_id: int | None,
        idempotency_key: str | None = None,
    ) -> ChatStream:
        """Start a run (or find the one this idempotency key started) and follow its events."""
        started = await self._start(user, project_id, message, session_id, idempotency_key)
        return ChatStream(run=started.run, frames=self._runs.follow(started.run.id))

    async def process_chat_message(
        self,
        user: Principal,
        project_id: int,
        message: str,
        *,
        session_id: int | None,
        idempotency_key: str | None = None,
    ) -> ChatResponse:
        started = await self._start(user, project_id, message, session_id, idempotency_key)
        run = await self._runs.wait(started.run.id)
        async with self._sessions() as session:
            assistant = await get_or_404(
                session, Message, run.assistant_message_id, f"message {run.assistant_message_id}"
            )
            return ChatResponse(
                session_id=run.session_id,
                run_id=run.id,
                status=run.status,
                message=ChatMessage.model_validate(assistant),
                code_changes=await changes.list_for_run(session, run.id),
                agent_interactions=await interactions_of_run(session, run.id),
                usage={name: Usage(**u) for name, u in run.usage.items()},
                error_code=run.error_code,
                error_message=run.error_message,
            )

    async def run(self, user: Principal, run_id: str, need: Role = "read") -> Run:
        async with self._sessions() as session:
            return await access.run(session, user, run_id, need)

    async def follow(self, user: Principal, run_id: str, after: int) -> AsyncIterator[bytes]:
        """The run's events after seq `after` as SSE bytes, live, until its end."""
        await self.run(user, run_id)
        return self._runs.follow(run_id, after)

    async def abandon(self, run_id: str) -> None:
        """Cancel a run whose stream's client left, having asked for that (`on_disconnect=cancel`):
        the client's choice made when it started the run, so no new check or audit entry."""
        await self._runs.cancel(run_id)

    async def changes(self, user: Principal, run_id: str) -> list[CodeChange]:
        await self.run(user, run_id)
        async with self._sessions() as session:
            return await changes.list_for_run(session, run_id)

    async def cancel(self, user: Principal, run_id: str) -> Run:
        await self.run(user, run_id, "write")
        run = await self._runs.cancel(run_id)
        async with self._sessions.begin() as session:
            await audit.record(session, user, "run.cancel", f"run {run_id} in project {run.project_id}")
        return run

    async def revert_run(self, user: Principal, run_id: str) -> list[CodeChange]:
        run = await self.run(user, run_id, "write")
        reverted = await changes.revert_run(self._sessions, run_id)
        async with self._sessions.begin() as session:
            await audit.record(session, user, "run.revert", f"run {run_id} in project {run.project_id}")
        return reverted

    async def revert_change(self, user: Principal, change_id: int) -> CodeChange:
        async with self._sessions() as session:
            row = await access.change(session, user, change_id, "write")
        reverted = await changes.revert_change(self._sessions, change_id)
        async with self._sessions.begin() as session:
            await audit.record(session, user, "change.revert", f"change {change_id} in project {row.project_id}")
        return reverted
