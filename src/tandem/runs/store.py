"""The run store: the SQL of runs, their messages and their persisted events.

Every transaction a run's lifecycle takes outside the recorder's event batches is here: creating a
run with its messages, admitting its user, its history, its end, recovering runs of dead processes,
and the events a stream reads once the event log no longer has them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.events import Finished, Turn
from tandem.errors import RateLimited
from tandem.events import ChatMessage, CompleteData, ErrorData, EventData, StartData, Usage, envelope
from tandem.persistence.database import get_or_404
from tandem.persistence.models import ChatSession, Message, Project, Run, RunEventRow, User
from tandem.workspace import changes, git_history

RUNS_RETRY_AFTER_SECONDS = 10
"""What a user at TANDEM_MAX_RUNS_PER_USER is told to wait: runs take tens of seconds and more."""
_PAGE = 2000
"""Persisted events a stream reads per query."""


@dataclass(frozen=True, kw_only=True)
class EventPage:
    rows: Sequence[Row[int, str, str]]
    """Seq, type and payload of the events after the one asked for, oldest first."""
    running: bool
    """Whether the run may still add events (only looked up when `rows` is empty)."""


async def active_run_id(session: AsyncSession, project_id: int) -> str | None:
    return await session.scalar(select(Run.id).where(Run.active_project_id == project_id))


def start_payload(run: Run) -> str:
    """The run's first event (seq 1), committed with the run itself."""
    start = StartData(
        session_id=run.session_id,
        user_message_id=run.user_message_id,
        run_id=run.id,
        assistant_message_id=run.assistant_message_id,
    )
    return envelope(run.id, 1, start).model_dump_json()


def _status(error: ErrorData | None) -> str:
    if error is None:
        return "completed"
    return error.code if error.code in ("cancelled", "interrupted") else "failed"


class RunStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, owner: str, max_runs_per_user: int | None
    ) -> None:
        self._sessions = sessions
        self._owner = owner
        self._max_runs_per_user = max_runs_per_user

    async def get(self, run_id: str) -> Run:
        async with self._sessions() as session:
            return await get_or_404(session, Run, run_id, f"run {run_id}")

    async def active_run_id(self, project_id: int) -> str | None:
        async with self._sessions() as session:
            return await active_run_id(session, project_id)

    async def by_key(self, project_id: int, key: str) -> Run | None:
        async with self._sessions() as session:
            return await session.scalar(select(Run).where(Run.project_id == project_id, Run.idempotency_key == key))

    async def _admit(self, session: AsyncSession, user_id: int) -> None:
        """Refuse a user already running `max_runs_per_user` runs. Their row's lock serialises their
        starts across processes, so two cannot both see one free slot."""
        if self._max_runs_per_user is None:
            return
        # NO KEY UPDATE: rows that merely reference the user (audit events) are not held up.
        await session.get(User, user_id, with_for_update={"key_share": True})
        active = await session.scalar(
            select(func.count()).select_from(Run).where(Run.user_id == user_id, Run.active_project_id.is_not(None))
        )
        if active is not None and active >= self._max_runs_per_user:
            raise RateLimited(
                f"you have {active} runs going; the limit is {self._max_runs_per_user} at once "
                "(TANDEM_MAX_RUNS_PER_USER): wait for one to end or cancel it",
                retry_after=RUNS_RETRY_AFTER_SECONDS,
            )

    async def create(
        self,
        project_id: int,
        message: str,
        session_id: int | None,
        key: str | None,
        fingerprint: str | None,
        user_id: int | None,
    ) -> Run:
        """The run, its two messages (and a new session when `session_id` is None) and its `start`
        event; an IntegrityError when the project already has an active run (or the key a run)."""
        # Edits made since the last commit are theirs, not this run's. A transaction of its own: the
        # one below must not wait for the project's row lock while it holds a share of it, which
        # the end of the previous run (its commit) may be waiting for.
        async with self._sessions.begin() as session:
            await git_history.commit_edits(session, project_id)
        async with self._sessions.begin() as session:
            if user_id is not None:
                await self._admit(session, user_id)
            # Locked against a concurrent delete of the project or session (see `projects.remove`,
            # `history.delete_session`), which would otherwise take the new run with it.
            await get_or_404(
                session, Project, project_id, f"project {project_id}", with_for_update={"read": True, "key_share": True}
            )
            if session_id is None:
                chat = ChatSession(project_id=project_id, title=" ".join(message.split())[:80])
                session.add(chat)
                await session.flush()
            else:
                chat = await get_or_404(
                    session,
                    ChatSession,
                    session_id,
                    f"session {session_id}",
                    belongs=lambda found: found.project_id == project_id,
                    within=f"project {project_id}",
                    with_for_update=True,
                )
                chat.updated_at = datetime.now(UTC)
            run_id = str(uuid.uuid4())
            user = Message(session_id=chat.id, role="user", content=message, run_id=run_id)
            assistant = Message(session_id=chat.id, role="assistant", content="", run_id=run_id)
            session.add_all([user, assistant])
            await session.flush()
            run = Run(
                id=run_id,
                project_id=project_id,
                session_id=chat.id,
                user_message_id=user.id,
                assistant_message_id=assistant.id,
                active_project_id=project_id,
                idempotency_key=key,
                request_fingerprint=fingerprint,
                owner=self._owner,
                user_id=user_id,
                heartbeat_at=datetime.now(UTC),
                usage={},
                last_seq=1,
            )
            session.add(run)
            await session.flush()
            session.add(RunEventRow(run_id=run_id, seq=1, type="start", payload=start_payload(run)))
        return run

    async def history(self, run: Run) -> list[Turn]:
        """The session's answered exchanges before this run's message, oldest first."""
        async with self._sessions() as session:
            rows = list(
                await session.scalars(
                    select(Message)
                    .where(Message.session_id == run.session_id, Message.id < run.user_message_id)
                    .order_by(Message.id)
                )
            )
        turns: list[Turn] = []
        for user, assistant in zip(rows[::2], rows[1::2], strict=False):
            if user.role == "user" and assistant.role == "assistant" and assistant.content:
                turns.append(Turn(user=user.content, assistant=assistant.content))
        return turns

    @staticmethod
    async def finish(session: AsyncSession, run: Run, finished: Finished | None, error: ErrorData | None) -> EventData:
        """Store the run's end (its answer, its commit, its status) and return its terminal event."""
        usage = {name: u.model_dump() for name, u in (finished.usage if finished else {}).items()}
        terminal: EventData = error or ErrorData(message="the run ended without an answer", code="internal")
        if finished is not None:
            assistant = await session.get_one(Message, run.assistant_message_id)
            assistant.content = finished.output
            assistant.agent_name = finished.agent
            terminal = CompleteData(
                session_id=run.session_id,
                message=ChatMessage.model_validate(assistant),
                code_changes=await changes.list_for_run(session, run.id),
                usage={name: Usage(**u) for name, u in usage.items()},
            )
        request = await session.get_one(Message, run.user_message_id)  # deleted only with the run
        # Whatever the run's outcome: what it changed before it stopped stays, and in history.
        await git_history.commit(
            session,
            run.project_id,
            kind="run",
            message=f"{request.content}\n\nRun: {run.id}",
            author=git_history.AGENTS,
            run_id=run.id,
        )
        await session.execute(
            update(Run)
            .where(Run.id == run.id)
            .values(
                status=_status(error),
                error_code=error.code if error else None,
                error_message=error.message if error else None,
                usage=usage,
                active_project_id=None,
                finished_at=datetime.now(UTC),
            )
        )
        return terminal

    async def interrupt_stale(self, lease: float | None) -> list[str]:
        """End `running` runs whose process died (with `lease`: whose lease lapsed, not ours) with
        `error`/`interrupted`; returns their ids."""
        condition = Run.status == "running"
        if lease is not None:
            cutoff = datetime.now(UTC) - timedelta(seconds=lease)
            condition = condition & (Run.heartbeat_at < cutoff) & (Run.owner != self._owner)
        ended: list[str] = []
        async with self._sessions.begin() as session:
            stale = list(await session.scalars(select(Run).where(condition).with_for_update(skip_locked=True)))
            for run in stale:
                last = run.last_seq  # written with every batch of events: the newest persisted seq
                error = ErrorData(message="the server running this run stopped", code="interrupted")
                session.add(
                    RunEventRow(
                        run_id=run.id,
                        seq=last + 1,
                        type="error",
                        payload=envelope(run.id, last + 1, error).model_dump_json(),
                    )
                )
                run.status = "interrupted"
                run.error_code = "interrupted"
                run.error_message = error.message
                run.active_project_id = None
                run.finished_at = datetime.now(UTC)
                run.last_seq = last + 1
                ended.append(run.id)
        return ended

    async def events_after(self, run_id: str, after: int) -> EventPage:
        async with self._sessions() as session:
            # The status first: a run that ended before it was read has its terminal row committed
            # with that status, so the rows read next include it. Read the other way round, a run
            # ending in between would look ended with its terminal event never read.
            status = await session.scalar(select(Run.status).where(Run.id == run_id))
            rows = (
                await session.execute(
                    select(RunEventRow.seq, RunEventRow.type, RunEventRow.payload)
                    .where(RunEventRow.run_id == run_id, RunEventRow.seq > after)
                    .order_by(RunEventRow.seq)
                    .limit(_PAGE)
                )
            ).all()
        return EventPage(rows=rows, running=status == "running")
