"""Runs: one execution of the team for one user message, decoupled from any HTTP request.

A run is its own task. It appends every event to the run's event log and persists it; streams
only read the log (or, once the log is gone, the database), so a client can leave and come back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.events import Delta, FileChanged, Finished, TeamEvent, Thought, ToolCall, ToolResult, Turn
from tandem.errors import Busy, IdempotencyKeyReused, InvalidInput, NotFound, RateLimited, RunFailed, TooLarge
from tandem.events import (
    PING_FRAME,
    AgentDeltaData,
    AgentInteractionData,
    CompleteData,
    ErrorCode,
    ErrorData,
    EventData,
    FileChangedData,
    StartData,
    Usage,
    envelope,
    sse_frame,
)
from tandem.persistence.models import ChatSession, Message, Project, Run, RunEventRow, User
from tandem.runs.cancellation import CancelBus
from tandem.runs.committer import GroupCommitter
from tandem.runs.eventlog import EventLog
from tandem.runs.recorder import RunRecorder, publish_persisted
from tandem.services import projects
from tandem.services.history import message_out
from tandem.workspace import changes, git_history
from tandem.workspace.files import FileLimits, ProjectFiles

if TYPE_CHECKING:
    from tandem.agents.team import Team  # the team loads pydantic-ai: built on the first run, not at start-up

logger = logging.getLogger(__name__)

TeamFactory = Callable[[], Awaitable["Team"]]
"""The team for a run about to start; it keeps it to the end."""
_DB_POLL_SECONDS = 0.25
_TERMINAL = ("complete", "error")
RUNS_RETRY_AFTER_SECONDS = 10
"""What a user at TANDEM_MAX_RUNS_PER_USER is told to wait: runs take tens of seconds and more."""
STREAM_CHUNK_BYTES = 64 * 1024
"""The most a stream hands to one `send`. A reader far behind (a replay, a client that stopped
reading) holds one such piece at a time, never its own copy of the whole log (issue 10)."""


@dataclass(frozen=True, kw_only=True)
class RunStarted:
    run: Run
    created: bool
    """False when an `Idempotency-Key` matched an earlier run, which is returned instead."""


@dataclass(kw_only=True)
class _Live:
    task: asyncio.Task[None]
    stop_reason: ErrorCode | None = None


def _fingerprint(message: str, session_id: int | None) -> str:
    """The request an `Idempotency-Key` stands for: a retry must send the same."""
    return hashlib.sha256(json.dumps([message, session_id]).encode()).hexdigest()


def _start_payload(run: Run) -> str:
    start = StartData(
        session_id=run.session_id,
        user_message_id=run.user_message_id,
        run_id=run.id,
        assistant_message_id=run.assistant_message_id,
    )
    return envelope(run.id, 1, start).model_dump_json()


class RunManager:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        log: EventLog,
        cancel_bus: CancelBus,
        team_factory: TeamFactory,
        file_limits: FileLimits,
        max_message_chars: int,
        ping_seconds: float,
        heartbeat_seconds: float,
        lease_seconds: float | None,
        max_runs_per_user: int | None = None,
    ) -> None:
        self._sessions = sessions
        self._max_runs_per_user = max_runs_per_user
        self._log = log
        self._cancel_bus = cancel_bus
        self._committer = GroupCommitter(sessions)
        self._heartbeat_seconds = heartbeat_seconds
        self._lease_seconds = lease_seconds
        self._monitor: asyncio.Task[None] | None = None
        self._team_factory = team_factory
        self._file_limits = file_limits
        self._max_message_chars = max_message_chars
        self._ping_seconds = ping_seconds
        self._live: dict[str, _Live] = {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # -- starting -------------------------------------------------------------------------------

    async def start(
        self,
        project_id: int,
        message: str,
        *,
        session_id: int | None,
        idempotency_key: str | None = None,
        user_id: int | None = None,
    ) -> RunStarted:
        """Start a run for `user_id` (who is counted against `max_runs_per_user`; access to the
        project is the caller's to check)."""
        if not message.strip():
            raise InvalidInput("message is empty")
        if len(message) > self._max_message_chars:
            raise TooLarge(
                f"message is {len(message)} characters; the limit is {self._max_message_chars} "
                "(TANDEM_MAX_MESSAGE_CHARS)"
            )
        fingerprint = _fingerprint(message, session_id) if idempotency_key is not None else None
        if idempotency_key is not None and (earlier := await self._by_key(project_id, idempotency_key, fingerprint)):
            return RunStarted(run=earlier, created=False)
        for retry in (False, True):
            try:
                run = await self._create(project_id, message, session_id, idempotency_key, fingerprint, user_id)
                break
            except IntegrityError:
                # A concurrent retry with the same key may have won the race: attach to its run.
                if idempotency_key is not None and (
                    earlier := await self._by_key(project_id, idempotency_key, fingerprint)
                ):
                    return RunStarted(run=earlier, created=False)
                async with self._sessions() as session:
                    active = await projects.active_run_id(session, project_id)
                # None: the active run ended between our insert and the look-up, the project is free.
                if active is not None or retry:
                    raise Busy(
                        f"project {project_id} already has an active run ({active}); wait for it or cancel it"
                    ) from None
        await self._launch(run, message)
        return RunStarted(run=run, created=True)

    async def _by_key(self, project_id: int, key: str, fingerprint: str | None) -> Run | None:
        async with self._sessions() as session:
            run = await session.scalar(select(Run).where(Run.project_id == project_id, Run.idempotency_key == key))
        if run is not None and run.request_fingerprint not in (None, fingerprint):
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was already used for run {run.id} with a different message or "
                "session_id; send a new key for a new request"
            )
        return run

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

    async def _create(
        self,
        project_id: int,
        message: str,
        session_id: int | None,
        key: str | None,
        fingerprint: str | None,
        user_id: int | None,
    ) -> Run:
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
            if await session.get(Project, project_id, with_for_update={"read": True, "key_share": True}) is None:
                raise NotFound(f"project {project_id} does not exist")
            if session_id is None:
                chat = ChatSession(project_id=project_id, title=" ".join(message.split())[:80])
                session.add(chat)
                await session.flush()
            else:
                found = await session.get(ChatSession, session_id, with_for_update=True)
                if found is None or found.project_id != project_id:
                    raise NotFound(f"session {session_id} does not exist in project {project_id}")
                found.updated_at = datetime.now(UTC)
                chat = found
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
                owner=self.owner,
                user_id=user_id,
                heartbeat_at=datetime.now(UTC),
                usage={},
                last_seq=1,
            )
            session.add(run)
            await session.flush()
            session.add(RunEventRow(run_id=run_id, seq=1, type="start", payload=_start_payload(run)))
        return run

    async def _launch(self, run: Run, message: str) -> None:
        recorder = RunRecorder(
            run_id=run.id,
            message_id=run.assistant_message_id,
            sessions=self._sessions,
            committer=self._committer,
            log=self._log,
            heartbeat_interval=self._heartbeat_seconds,
            on_lost=lambda: self._stop_here(run.id, "interrupted"),
            published_seq=1,
        )
        self._log.open(run.id)
        # `start` was committed with the run itself: publish it now, ahead of anything else.
        await self._log.append(run.id, [(1, sse_frame(1, _start_payload(run)))])
        recorder.start()
        task = asyncio.create_task(self._execute(run, message, recorder), name=f"run-{run.id}")
        self._live[run.id] = _Live(task=task)

    # -- executing ------------------------------------------------------------------------------

    async def _execute(self, run: Run, message: str, recorder: RunRecorder) -> None:
        finished, error = await self._outcome(run, message, recorder)
        # Finishing is atomic with respect to cancel: once the outcome is known, a Stop, a client
        # leaving with on_disconnect=cancel or a shutdown cannot cut the run off from its terminal
        # event (it would stay `running`, its project busy), nor reach the shared commit loop.
        finishing = asyncio.ensure_future(self._finish(run, recorder, finished, error))
        try:
            while True:
                try:
                    await asyncio.shield(finishing)
                    return
                except asyncio.CancelledError:
                    if finishing.cancelled():
                        raise
                    self._uncancel()
        finally:
            self._live.pop(run.id, None)

    async def _outcome(self, run: Run, message: str, recorder: RunRecorder) -> tuple[Finished | None, ErrorData | None]:
        """Run the team, streaming its events; returns its final answer or the error that ended it."""
        finished: Finished | None = None
        try:
            team = await self._team_factory()
            files = ProjectFiles(self._sessions, run.project_id, limits=self._file_limits)
            history = await self._history(run)
            async for event in team.run_stream(message, files=files, run_id=run.id, history=history):
                if isinstance(event, Finished):
                    finished = event
                else:
                    recorder.emit(self._wire(event, recorder))
        except RunFailed as failure:
            return None, ErrorData.model_validate({"message": failure.message, "code": failure.code})
        except asyncio.CancelledError:
            self._uncancel()
            if finished is not None:
                # The stop came after the answer: the run completed, the stop lost the race.
                return finished, None
            reason = self._live[run.id].stop_reason or "interrupted"
            said = "the run was stopped" if reason == "cancelled" else "the server stopped during the run"
            return None, ErrorData(message=said, code=reason)
        except Exception:
            logger.exception("run %s failed", run.id)
            return None, ErrorData(message="internal error; the server log has the details", code="internal")
        return finished, None

    @staticmethod
    def _uncancel() -> None:
        """The run's task handled a cancel: later awaits (timeouts, task groups) must not see it."""
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()

    @staticmethod
    def _wire(event: TeamEvent, recorder: RunRecorder) -> EventData:
        match event:
            case Delta():
                return AgentDeltaData(
                    agent_name=event.agent, message_type=event.kind, delta=event.text, tool_call_id=event.tool_call_id
                )
            case Thought():
                return AgentInteractionData(
                    agent_name=event.agent,
                    message_type="thought",
                    content=event.content,
                    timestamp=event.at,
                    id=recorder.interaction_id(),
                )
            case ToolCall():
                return AgentInteractionData(
                    agent_name=event.agent,
                    message_type="tool_call",
                    content=f"Calling: {event.tool_name}",
                    tool_name=event.tool_name,
                    tool_arguments=event.arguments,
                    timestamp=event.at,
                    id=recorder.interaction_id(),
                    tool_call_id=event.tool_call_id,
                )
            case ToolResult():
                return AgentInteractionData(
                    agent_name="System",
                    message_type="tool_response",
                    content=event.content,
                    tool_name=event.tool_name,
                    timestamp=event.at,
                    id=recorder.interaction_id(),
                    tool_call_id=event.tool_call_id,
                    failed=event.failed,
                )
            case FileChanged():
                return FileChangedData(path=event.path, change_type=event.change_type, change_id=event.change_id)
            case Finished():  # pragma: no cover - handled by the caller
                raise AssertionError("Finished is not streamed")

    async def _history(self, run: Run) -> list[Turn]:
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

    async def _finish(
        self, run: Run, recorder: RunRecorder, finished: Finished | None, error: ErrorData | None
    ) -> None:
        usage = {name: u.model_dump() for name, u in (finished.usage if finished else {}).items()}
        status = (
            "completed"
            if error is None
            else "cancelled"
            if error.code == "cancelled"
            else ("interrupted" if error.code == "interrupted" else "failed")
        )

        async def finalize(session: AsyncSession) -> EventData:
            terminal: EventData = error or ErrorData(message="the run ended without an answer", code="internal")
            assistant = await session.get(Message, run.assistant_message_id)
            assert assistant is not None
            if finished is not None:
                assistant.content = finished.output
                assistant.agent_name = finished.agent
                terminal = CompleteData(
                    session_id=run.session_id,
                    message=message_out(assistant),
                    code_changes=await changes.list_for_run(session, run.id),
                    usage={name: Usage(**u) for name, u in usage.items()},
                )
            request = await session.get(Message, run.user_message_id)
            assert request is not None  # deleted only with the run
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
                    status=status,
                    error_code=error.code if error else None,
                    error_message=error.message if error else None,
                    usage=usage,
                    active_project_id=None,
                    finished_at=datetime.now(UTC),
                )
            )
            return terminal

        await recorder.close(finalize)

    # -- stopping -------------------------------------------------------------------------------

    async def begin(self) -> None:
        """Start listening for cancels and recover runs left unfinished by dead processes.

        Without a lease (one process) every `running` run is from a dead process; with one
        (several processes), only runs whose lease lapsed are, checked every lease/2 seconds."""
        await self._cancel_bus.start(self._cancel_here)
        if self._lease_seconds is None:
            await self.interrupt_stale(None)
        else:
            self._monitor = asyncio.create_task(self._watch_leases(self._lease_seconds), name="lease-monitor")

    async def _watch_leases(self, lease: float) -> None:
        while True:
            try:
                await self.interrupt_stale(lease)
            except Exception:
                logger.exception("checking run leases failed")
            await asyncio.sleep(lease / 2)

    async def cancel(self, run_id: str) -> Run:
        run = await self.get(run_id)
        if run.status == "running" and not self._cancel_here(run_id):
            await self._cancel_bus.publish(run_id)
        return run

    def _cancel_here(self, run_id: str) -> bool:
        """Stop the run if this process executes it; True if it does."""
        return self._stop_here(run_id, "cancelled")

    def _stop_here(self, run_id: str, reason: ErrorCode) -> bool:
        live = self._live.get(run_id)
        if live is None:
            return False
        if live.stop_reason is None:
            live.stop_reason = reason
            live.task.cancel()
        return True

    async def stop_all(self) -> None:
        """End every run of this process with `error`/`interrupted` and wait until each has finished:
        their streams get the terminal event and close, so a graceful shutdown has none to wait for."""
        for live in self._live.values():
            live.stop_reason = live.stop_reason or "interrupted"
            live.task.cancel()
        await asyncio.gather(*(live.task for live in list(self._live.values())), return_exceptions=True)

    async def shutdown(self) -> None:
        """Stop every run of this process (each ends with `error`/`interrupted`), then the background work."""
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
        await self.stop_all()
        await self._committer.close()
        await self._cancel_bus.close()
        await self._log.close()

    async def interrupt_stale(self, lease: float | None) -> int:
        """Mark runs whose process died as interrupted and end their streams; returns how many."""
        condition = Run.status == "running"
        if lease is not None:
            cutoff = datetime.now(UTC) - timedelta(seconds=lease)
            condition = condition & (Run.heartbeat_at < cutoff) & (Run.owner != self.owner)
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
        for run_id in ended:
            # A shared log may have viewers: give them what the dead process persisted but never
            # published, then the end. Without one, streams read the database, which has it all.
            published = await self._log.last_seq(run_id)
            if published is not None:
                await publish_persisted(self._sessions, self._log, run_id, after=published)
        return len(ended)

    # -- reading --------------------------------------------------------------------------------

    async def get(self, run_id: str) -> Run:
        async with self._sessions() as session:
            run = await session.get(Run, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        return run

    async def follow(self, run_id: str, after: int = 0) -> AsyncIterator[bytes]:
        """SSE bytes of the events after seq `after`, live, until the terminal event; pings when idle."""
        while True:
            batch = await self._log.read(run_id, after, timeout=self._ping_seconds, max_bytes=STREAM_CHUNK_BYTES)
            if batch is None:
                async for chunk in self._follow_database(run_id, after):
                    yield chunk
                return
            if batch.frames:
                after += len(batch.frames)
                for chunk in _chunks(batch.frames):
                    yield chunk
            elif batch.closed:
                return
            else:
                yield PING_FRAME

    async def _follow_database(self, run_id: str, after: int) -> AsyncIterator[bytes]:
        idle = 0.0
        while True:
            async with self._sessions() as session:
                rows = list(
                    await session.execute(
                        select(RunEventRow.seq, RunEventRow.type, RunEventRow.payload)
                        .where(RunEventRow.run_id == run_id, RunEventRow.seq > after)
                        .order_by(RunEventRow.seq)
                        .limit(2000)
                    )
                )
                status = None if rows else await session.scalar(select(Run.status).where(Run.id == run_id))
            if rows:
                idle = 0.0
                after = rows[-1].seq
                for chunk in _chunks(sse_frame(row.seq, row.payload) for row in rows):
                    yield chunk
                if rows[-1].type in _TERMINAL:
                    return
                continue
            if status != "running":
                return
            if await self._log.has(run_id):
                # The run went live here between our reads: follow memory from where we are.
                async for chunk in self.follow(run_id, after):
                    yield chunk
                return
            await asyncio.sleep(_DB_POLL_SECONDS)
            idle += _DB_POLL_SECONDS
            if idle >= self._ping_seconds:
                idle = 0.0
                yield PING_FRAME

    async def wait(self, run_id: str) -> Run:
        """Wait for a run to end and return its final state."""
        async for _ in self.follow(run_id):
            pass
        return await self.get(run_id)


def _chunks(frames: Iterable[bytes]) -> Iterator[bytes]:
    """Frames joined into pieces of at most `STREAM_CHUNK_BYTES`; a bigger frame is cut (SSE is a byte stream)."""
    group: list[bytes] = []
    size = 0
    for frame in frames:
        if group and size + len(frame) > STREAM_CHUNK_BYTES:
            yield b"".join(group)
            group, size = [], 0
        if len(frame) > STREAM_CHUNK_BYTES:
            for start in range(0, len(frame), STREAM_CHUNK_BYTES):
                yield frame[start : start + STREAM_CHUNK_BYTES]
            continue
        group.append(frame)
        size += len(frame)
    if group:
        yield b"".join(group)
