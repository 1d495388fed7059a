"""The run conductor: one execution of the team for one user message, decoupled from any HTTP request.

A run is its own task. The conductor starts it (its rows: `store`), feeds what the team reports
(mapped by `wire`) to its recorder, which persists and publishes each event to the run's event
log, and ends it however it ends: answered, failed, stopped, or its process gone. Streams only
read (`follower`), so a client can leave and come back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.events import Finished
from tandem.errors import Busy, IdempotencyKeyReused, InvalidInput, RunFailed, TooLarge
from tandem.events import ErrorCode, ErrorData, sse_frame
from tandem.persistence.models import Run
from tandem.runs.cancellation import CancelBus
from tandem.runs.committer import GroupCommitter
from tandem.runs.eventlog import EventLog
from tandem.runs.follower import Follower
from tandem.runs.recorder import RunRecorder, publish_persisted
from tandem.runs.store import RunStore, start_payload
from tandem.runs.wire import to_wire
from tandem.workspace.files import FileLimits, ProjectFiles

if TYPE_CHECKING:
    from tandem.agents.team import Team  # the team loads pydantic-ai: built on the first run, not at start-up

logger = logging.getLogger(__name__)

TeamFactory = Callable[[], Awaitable["Team"]]
"""The team for a run about to start; it keeps it to the end."""


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
        self._log = log
        self._cancel_bus = cancel_bus
        self._committer = GroupCommitter(sessions)
        self._heartbeat_seconds = heartbeat_seconds
        self._lease_seconds = lease_seconds
        self._monitor: asyncio.Task[None] | None = None
        self._team_factory = team_factory
        self._file_limits = file_limits
        self._max_message_chars = max_message_chars
        self._live: dict[str, _Live] = {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._store = RunStore(sessions, owner=self.owner, max_runs_per_user=max_runs_per_user)
        self._follower = Follower(store=self._store, log=log, ping_seconds=ping_seconds)

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
                run = await self._store.create(project_id, message, session_id, idempotency_key, fingerprint, user_id)
                break
            except IntegrityError:
                # A concurrent retry with the same key may have won the race: attach to its run.
                if idempotency_key is not None and (
                    earlier := await self._by_key(project_id, idempotency_key, fingerprint)
                ):
                    return RunStarted(run=earlier, created=False)
                active = await self._store.active_run_id(project_id)
                # None: the active run ended between our insert and the look-up, the project is free.
                if active is not None or retry:
                    raise Busy(
                        f"project {project_id} already has an active run ({active}); wait for it or cancel it"
                    ) from None
        await self._launch(run, message)
        return RunStarted(run=run, created=True)

    async def _by_key(self, project_id: int, key: str, fingerprint: str | None) -> Run | None:
        run = await self._store.by_key(project_id, key)
        if run is not None and run.request_fingerprint not in (None, fingerprint):
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was already used for run {run.id} with a different message or "
                "session_id; send a new key for a new request"
            )
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
        await self._log.append(run.id, [(1, sse_frame(1, start_payload(run)))])
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
            history = await self._store.history(run)
            async for event in team.run_stream(message, files=files, run_id=run.id, history=history):
                if isinstance(event, Finished):
                    finished = event
                else:
                    recorder.emit(to_wire(event))
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

    async def _finish(
        self, run: Run, recorder: RunRecorder, finished: Finished | None, error: ErrorData | None
    ) -> None:
        await recorder.close(lambda session: self._store.finish(session, run, finished, error))

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
        ended = await self._store.interrupt_stale(lease)
        for run_id in ended:
            # A shared log may have viewers: give them what the dead process persisted but never
            # published, then the end. Without one, streams read the database, which has it all.
            published = await self._log.last_seq(run_id)
            if published is not None:
                await publish_persisted(self._sessions, self._log, run_id, after=published)
        return len(ended)

    # -- reading --------------------------------------------------------------------------------

    async def get(self, run_id: str) -> Run:
        return await self._store.get(run_id)

    def follow(self, run_id: str, after: int = 0) -> AsyncIterator[bytes]:
        """SSE bytes of the events after seq `after`, live, until the terminal event; pings when idle."""
        return self._follower.follow(run_id, after)

    async def wait(self, run_id: str) -> Run:
        """Wait for a run to end and return its final state."""
        async for _ in self.follow(run_id):
            pass
        return await self.get(run_id)
