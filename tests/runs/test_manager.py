"""The run manager through its public interface: starting a run (validation, idempotency, the
per-user limit), what the team is given, the events a stream gets, how a run ends (answer, failure,
cancel, shutdown, a dead process) and following a run live or from the database.

The team is the real one on pydantic-ai `FunctionModel`s that play a fixed script; one backend
(SQLite) keeps the tests fast enough to run per mutant (the database is not what they test)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest
from pydantic_ai.messages import ModelRequest, TextPart, ThinkingPart, UserPromptPart
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.team import Team
from tandem.errors import (
    Busy,
    IdempotencyKeyReused,
    InvalidInput,
    ModelFailed,
    NotFound,
    RateLimited,
    TooLarge,
)
from tandem.events import PING_FRAME
from tandem.persistence.models import ChatSession, Message, Run, RunEventRow, User
from tandem.runs.eventlog import InProcessEventLog
from tandem.runs.follower import STREAM_CHUNK_BYTES
from tandem.runs.manager import RunManager
from tandem.runs.store import RunStore
from tandem.services.accounts import LOCAL
from tandem.workspace.files import FileLimits
from tests.playbook import Playbook, call
from tests.runs.conftest import Script, SharedCancelBus, new_project

pytestmark = [
    pytest.mark.parametrize("sessions", ["sqlite"], indirect=True),
    # Each takes a second or two: a stream that never ends (a mutant, a regression) fails in 30 s, not 120.
    pytest.mark.timeout(30),
]

Events = list[dict[str, Any]]


NewManager = Callable[..., Awaitable[RunManager]]


@pytest.fixture
async def new_manager(
    sessions: async_sessionmaker[AsyncSession], script: Script, bus: SharedCancelBus
) -> AsyncIterator[NewManager]:
    """Builds started managers (each a process of its own) on the test's database; shut down after."""
    managers: list[RunManager] = []

    async def build(
        *,
        retention: float = 60,
        ping_seconds: float = 30,
        lease_seconds: float | None = None,
        prepare: Callable[[], Awaitable[None]] | None = None,
        max_runs_per_user: int | None = None,
    ) -> RunManager:
        async def team() -> Team:
            # What the container's `Teams` does before a run: the model check, then the team.
            if prepare is not None:
                await prepare()
            return await script.team()

        manager = RunManager(
            sessions=sessions,
            log=InProcessEventLog(retention=retention),
            cancel_bus=bus,
            team_factory=team,
            file_limits=FileLimits(max_file_bytes=1_000_000, max_files=100, max_project_bytes=10_000_000),
            max_message_chars=100,
            ping_seconds=ping_seconds,
            heartbeat_seconds=30,
            lease_seconds=lease_seconds,
            max_runs_per_user=max_runs_per_user,
        )
        await manager.begin()
        managers.append(manager)
        return manager

    yield build
    for manager in managers:
        await manager.shutdown()


@pytest.fixture
async def manager(new_manager: NewManager) -> RunManager:
    return await new_manager()


@pytest.fixture
async def project_id(sessions: async_sessionmaker[AsyncSession]) -> int:
    return await new_project(sessions)


def parse(stream: bytes) -> tuple[Events, int]:
    """The events of an SSE byte stream (checking each frame's `id` is its seq), and its pings."""
    events: Events = []
    pings = 0
    for frame in stream.split(b"\n\n")[:-1]:
        if frame + b"\n\n" == PING_FRAME:
            pings += 1
            continue
        id_line, data_line = frame.decode().split("\n")
        event = json.loads(data_line.removeprefix("data: "))
        assert id_line == f"id: {event['seq']}"
        events.append(event)
    return events, pings


async def read(manager: RunManager, run_id: str, after: int = 0) -> bytes:
    return b"".join([chunk async for chunk in manager.follow(run_id, after)])


async def events_of(manager: RunManager, run_id: str, after: int = 0) -> Events:
    events, _ = parse(await read(manager, run_id, after))
    return events


async def stored(sessions: async_sessionmaker[AsyncSession], run_id: str) -> Events:
    async with sessions() as session:
        payloads = await session.scalars(
            select(RunEventRow.payload).where(RunEventRow.run_id == run_id).order_by(RunEventRow.seq)
        )
        return [json.loads(payload) for payload in payloads]


async def hanging_run(manager: RunManager, script: Script, project_id: int) -> tuple[str, Playbook]:
    """A run whose Planner's model call hangs until cancelled, started and waiting."""
    script.planner = Playbook([None])
    run = (await manager.start(project_id, "hang", session_id=None)).run
    await script.planner.hung.wait()
    return run.id, script.planner


def hand_off_script(script: Script) -> None:
    """The Planner hands off, the Coder writes hello.txt and reports, the Planner answers."""
    script.planner = Playbook(
        [
            [TextPart("Plan: write it."), call("hand_off_to_coder", "p1", plan="write hello.txt")],
            [TextPart("Done: hello.txt")],
        ]
    )
    script.coder = Playbook(
        [
            [call("write_file", "c1", path="hello.txt", content="hello\n")],
            [TextPart("I wrote hello.txt.")],
        ]
    )


# -- starting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("message", ["", "  \n\t "])
async def test_an_empty_message_is_refused(manager: RunManager, project_id: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=r"^message is empty$"):
        await manager.start(project_id, message, session_id=None)


async def test_a_message_over_the_limit_is_refused_and_one_at_it_runs(manager: RunManager, project_id: int) -> None:
    with pytest.raises(TooLarge) as refused:
        await manager.start(project_id, "x" * 101, session_id=None)
    assert refused.value.message == "message is 101 characters; the limit is 100 (TANDEM_MAX_MESSAGE_CHARS)"
    started = await manager.start(project_id, "x" * 100, session_id=None)
    assert (await manager.wait(started.run.id)).status == "completed"


async def test_a_run_in_a_missing_project_or_session_is_not_found(
    manager: RunManager, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    with pytest.raises(NotFound, match=f"^project {project_id + 100} does not exist$"):
        await manager.start(project_id + 100, "hi", session_id=None)
    with pytest.raises(NotFound, match=f"^session 999 does not exist in project {project_id}$"):
        await manager.start(project_id, "hi", session_id=999)
    other = await manager.start(await new_project(sessions, "other"), "hi", session_id=None)
    await manager.wait(other.run.id)
    with pytest.raises(NotFound, match=f"^session {other.run.session_id} does not exist in project {project_id}$"):
        await manager.start(project_id, "hi", session_id=other.run.session_id)
    async with sessions() as session:
        assert await session.scalar(select(Run).where(Run.project_id == project_id)) is None


async def test_a_new_run_gets_a_session_titled_after_its_message_and_its_two_messages(
    manager: RunManager, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    message = "  fix\tthe \n bug " + "word " * 16
    started = await manager.start(project_id, message, session_id=None, user_id=LOCAL.id)
    run = started.run
    assert started.created
    assert (run.project_id, run.status, run.owner, run.user_id) == (project_id, "running", manager.owner, LOCAL.id)
    assert run.active_project_id == project_id
    await manager.wait(run.id)
    async with sessions() as session:
        chat = await session.get(ChatSession, run.session_id)
        assert chat is not None
        assert (chat.project_id, chat.title) == (project_id, " ".join(message.split())[:80])
        assert len(chat.title) == 80
        messages = list(await session.scalars(select(Message).where(Message.session_id == chat.id)))
    assert [(m.id, m.role, m.content, m.run_id) for m in messages] == [
        (run.user_message_id, "user", message, run.id),
        (run.assistant_message_id, "assistant", "Nothing to do.", run.id),
    ]


async def test_a_run_in_an_existing_session_adds_to_it_and_marks_it_updated(
    manager: RunManager, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    first = (await manager.start(project_id, "first", session_id=None)).run
    await manager.wait(first.id)
    async with sessions() as session:
        before = await session.get(ChatSession, first.session_id)
        assert before is not None
    second = (await manager.start(project_id, "second", session_id=first.session_id)).run
    await manager.wait(second.id)
    assert second.session_id == first.session_id
    async with sessions() as session:
        after = await session.get(ChatSession, first.session_id)
        assert after is not None
        assert after.title == "first"
        assert after.updated_at > before.updated_at
        contents = list(await session.scalars(select(Message.content).where(Message.session_id == first.session_id)))
    assert contents == ["first", "Nothing to do.", "second", "Nothing to do."]


async def test_a_project_runs_one_run_at_a_time(manager: RunManager, script: Script, project_id: int) -> None:
    run_id, _ = await hanging_run(manager, script, project_id)
    with pytest.raises(Busy) as refused:
        await manager.start(project_id, "another", session_id=None)
    assert refused.value.message == (
        f"project {project_id} already has an active run ({run_id}); wait for it or cancel it"
    )
    await manager.cancel(run_id)
    await manager.wait(run_id)
    assert (await manager.start(project_id, "now", session_id=None)).created


async def test_a_user_at_their_run_limit_is_told_to_wait(
    new_manager: NewManager, script: Script, sessions: async_sessionmaker[AsyncSession]
) -> None:
    manager = await new_manager(max_runs_per_user=2)
    first, second, third = [await new_project(sessions, name) for name in ("a", "b", "c")]
    script.planner = Playbook([None, None])
    await manager.start(first, "one", session_id=None, user_id=LOCAL.id)
    await manager.start(second, "two", session_id=None, user_id=LOCAL.id)
    with pytest.raises(RateLimited) as refused:
        await manager.start(third, "three", session_id=None, user_id=LOCAL.id)
    assert refused.value.message == (
        "you have 2 runs going; the limit is 2 at once (TANDEM_MAX_RUNS_PER_USER): wait for one to end or cancel it"
    )
    assert refused.value.retry_after == 10


async def test_only_a_users_own_live_runs_count_against_their_limit(
    new_manager: NewManager, script: Script, sessions: async_sessionmaker[AsyncSession]
) -> None:
    manager = await new_manager(max_runs_per_user=1)
    first, second, third = [await new_project(sessions, name) for name in ("a", "b", "c")]
    async with sessions.begin() as session:
        other = User(name="other")
        session.add(other)
        await session.flush()
        other_id = other.id
    script.planner = Playbook([[TextPart("done")], None, None, None])
    await manager.wait((await manager.start(first, "ended", session_id=None, user_id=LOCAL.id)).run.id)
    await manager.start(first, "anonymous", session_id=None)
    await manager.start(second, "another user's", session_id=None, user_id=other_id)
    assert (await manager.start(third, "mine", session_id=None, user_id=LOCAL.id)).created


# -- idempotency ----------------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_gets_the_same_run(
    manager: RunManager, script: Script, project_id: int
) -> None:
    script.planner = Playbook([None])
    first = await manager.start(project_id, "hi", session_id=None, idempotency_key="k1")
    again = await manager.start(project_id, "hi", session_id=None, idempotency_key="k1")
    assert (first.created, again.created) == (True, False)
    assert again.run.id == first.run.id


async def test_concurrent_retries_with_one_key_all_get_the_same_run(
    manager: RunManager,
    script: Script,
    sessions: async_sessionmaker[AsyncSession],
    project_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All four look the key up before any creates the run: three lose the race to create it."""
    script.planner = Playbook([None])
    looked_up = asyncio.Barrier(4)
    begin = sessions.begin
    writes = 0

    @contextlib.asynccontextmanager
    async def after_every_look_up() -> AsyncIterator[AsyncSession]:
        nonlocal writes
        writes += 1
        if writes <= 4:
            await looked_up.wait()
        async with begin() as session:
            yield session

    monkeypatch.setattr(sessions, "begin", after_every_look_up)
    started = await asyncio.gather(
        *(manager.start(project_id, "hi", session_id=None, idempotency_key="k1") for _ in range(4))
    )
    assert sorted(s.created for s in started) == [False, False, False, True]
    assert len({s.run.id for s in started}) == 1


async def test_a_key_reused_for_another_request_is_refused(
    manager: RunManager, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    first = (await manager.start(project_id, "hi", session_id=None, idempotency_key="k1")).run
    await manager.wait(first.id)
    expected = (
        f"^Idempotency-Key 'k1' was already used for run {first.id} with a different message or session_id; "
        "send a new key for a new request$"
    )
    with pytest.raises(IdempotencyKeyReused, match=expected):
        await manager.start(project_id, "hello", session_id=None, idempotency_key="k1")
    with pytest.raises(IdempotencyKeyReused, match=expected):
        await manager.start(project_id, "hi", session_id=first.session_id, idempotency_key="k1")
    # A key belongs to its project; without a key every request is a new run.
    elsewhere = await manager.start(
        await new_project(sessions, "other"), "hello", session_id=None, idempotency_key="k1"
    )
    assert elsewhere.created
    await manager.wait(elsewhere.run.id)
    assert (await manager.start(project_id, "hi", session_id=None)).run.id != first.id


async def test_another_key_for_the_same_request_is_a_new_run(manager: RunManager, project_id: int) -> None:
    first = (await manager.start(project_id, "hi", session_id=None, idempotency_key="k1")).run
    await manager.wait(first.id)
    second = await manager.start(project_id, "hi", session_id=None, idempotency_key="k2")
    assert second.created
    assert second.run.id != first.id


# -- running --------------------------------------------------------------------------------------


async def test_a_run_streams_the_teams_steps_and_ends_complete(
    manager: RunManager, script: Script, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    hand_off_script(script)
    run = (await manager.start(project_id, "write hello", session_id=None)).run
    events = await events_of(manager, run.id)
    assert [(e["seq"], e["run_id"], e["type"]) for e in events] == [
        (seq, run.id, kind)
        for seq, kind in enumerate(
            [
                "start",
                "agent_interaction",
                "agent_interaction",
                "agent_interaction",
                "file_changed",
                "agent_interaction",
                "agent_interaction",
                "complete",
            ],
            start=1,
        )
    ]
    data = [e["data"] for e in events]
    assert data[0] == {
        "session_id": run.session_id,
        "user_message_id": run.user_message_id,
        "run_id": run.id,
        "assistant_message_id": run.assistant_message_id,
    }
    interactions = [dict(data[i]) for i in (1, 2, 3, 5, 6)]
    for interaction in interactions:
        assert datetime.fromisoformat(interaction.pop("timestamp")) <= datetime.now(UTC)
    assert interactions == [
        {
            "agent_name": "Planner",
            "message_type": "thought",
            "content": "Plan: write it.",
            "tool_name": None,
            "tool_arguments": None,
            "id": f"{run.id}:2",
            "tool_call_id": None,
            "failed": False,
        },
        {
            "agent_name": "Planner",
            "message_type": "tool_call",
            "content": "Calling: hand_off_to_coder",
            "tool_name": "hand_off_to_coder",
            "tool_arguments": {"plan": "write hello.txt"},
            "id": f"{run.id}:3",
            "tool_call_id": "p1",
            "failed": False,
        },
        {
            "agent_name": "Coder",
            "message_type": "tool_call",
            "content": "Calling: write_file",
            "tool_name": "write_file",
            "tool_arguments": {"path": "hello.txt", "content": "hello\n"},
            "id": f"{run.id}:4",
            "tool_call_id": "c1",
            "failed": False,
        },
        {
            "agent_name": "System",
            "message_type": "tool_response",
            "content": "Wrote hello.txt (6 bytes).",
            "tool_name": "write_file",
            "tool_arguments": None,
            "id": f"{run.id}:6",
            "tool_call_id": "c1",
            "failed": False,
        },
        {
            "agent_name": "System",
            "message_type": "tool_response",
            "content": "I wrote hello.txt.",
            "tool_name": "hand_off_to_coder",
            "tool_arguments": None,
            "id": f"{run.id}:7",
            "tool_call_id": "p1",
            "failed": False,
        },
    ]
    complete = data[-1]
    (change,) = complete["code_changes"]
    assert data[4] == {"path": "hello.txt", "change_type": "created", "change_id": change["id"]}
    assert (change["path"], change["run_id"], change["change_type"]) == ("hello.txt", run.id, "created")
    assert complete["session_id"] == run.session_id
    assert {k: complete["message"][k] for k in ("id", "session_id", "role", "content", "agent_name")} == {
        "id": run.assistant_message_id,
        "session_id": run.session_id,
        "role": "assistant",
        "content": "Done: hello.txt",
        "agent_name": "Planner",
    }
    usage = {
        "Planner": {"requests": 2, "input_tokens": 300, "output_tokens": 3, "tool_calls": 1, "cost_usd": None},
        "Coder": {"requests": 2, "input_tokens": 300, "output_tokens": 3, "tool_calls": 1, "cost_usd": None},
    }
    assert complete["usage"] == usage
    assert await stored(sessions, run.id) == events

    ended = await manager.get(run.id)
    assert (ended.status, ended.error_code, ended.error_message, ended.active_project_id) == (
        "completed",
        None,
        None,
        None,
    )
    assert ended.usage == usage
    assert ended.finished_at is not None
    async with sessions() as session:
        answer = await session.get(Message, run.assistant_message_id)
        assert answer is not None
        assert (answer.content, answer.agent_name) == ("Done: hello.txt", "Planner")


async def test_a_streaming_team_sends_its_text_as_deltas(manager: RunManager, script: Script, project_id: int) -> None:
    script.streaming = True
    script.planner = Playbook([[ThinkingPart("hmm ok"), TextPart("All done")]])
    run = (await manager.start(project_id, "hi", session_id=None)).run
    events = await events_of(manager, run.id)
    deltas = [e["data"] for e in events if e["type"] == "agent_delta"]
    assert {d["agent_name"] for d in deltas} == {"Planner"}
    assert "".join(d["delta"] for d in deltas if d["message_type"] == "thought") == "hmm ok "
    assert "".join(d["delta"] for d in deltas if d["message_type"] == "message") == "All done "
    assert events[-1]["data"]["message"]["content"] == "All done "


async def test_the_planner_gets_the_earlier_turns_of_its_session(
    manager: RunManager, script: Script, project_id: int
) -> None:
    script.planner = Playbook(
        [[TextPart("first answer")], None, [TextPart("third answer")], [TextPart("ok")], [TextPart("ok")]]
    )
    first = (await manager.start(project_id, "first question", session_id=None)).run
    await manager.wait(first.id)
    # A turn without an answer (this one is cancelled) is left out.
    second = (await manager.start(project_id, "second question", session_id=first.session_id)).run
    await script.planner.hung.wait()
    await manager.cancel(second.id)
    await manager.wait(second.id)
    third = (await manager.start(project_id, "third question", session_id=first.session_id)).run
    await manager.wait(third.id)
    # Another session's turns are not this one's.
    await manager.wait((await manager.start(project_id, "elsewhere", session_id=None)).run.id)
    fourth = (await manager.start(project_id, "fourth question", session_id=first.session_id)).run
    await manager.wait(fourth.id)

    def conversation(request: int) -> list[tuple[str, str]]:
        """The request's messages: their user prompts (without the file listing) and answers."""
        return [
            (type(message).__name__, str(part.content).split("\n\n<project-files>")[0])
            for message in script.planner.seen[request]
            for part in message.parts
            if isinstance(part, UserPromptPart | TextPart)
        ]

    assert conversation(0) == [("ModelRequest", "first question")]
    assert conversation(2) == [
        ("ModelRequest", "first question"),
        ("ModelResponse", "first answer"),
        ("ModelRequest", "third question"),
    ]
    assert conversation(4) == [
        ("ModelRequest", "first question"),
        ("ModelResponse", "first answer"),
        ("ModelRequest", "third question"),
        ("ModelResponse", "third answer"),
        ("ModelRequest", "fourth question"),
    ]
    assert all(isinstance(m, ModelRequest) for m in script.planner.seen[4][::2])


async def test_a_failing_team_ends_the_run_with_its_error(manager: RunManager, script: Script, project_id: int) -> None:
    script.model_requests = 1
    hand_off_script(script)
    run = (await manager.start(project_id, "hi", session_id=None)).run
    terminal = (await events_of(manager, run.id))[-1]
    assert terminal["type"] == "error"
    assert terminal["data"]["code"] == "limit_exceeded"
    ended = await manager.get(run.id)
    assert (ended.status, ended.error_code, ended.error_message) == (
        "failed",
        "limit_exceeded",
        terminal["data"]["message"],
    )
    assert ended.active_project_id is None
    assert ended.finished_at is not None


async def test_a_failed_preparation_ends_the_run_before_the_team_starts(
    new_manager: NewManager, script: Script, project_id: int
) -> None:
    async def prepare() -> None:
        raise ModelFailed("the model server is down")

    manager = await new_manager(prepare=prepare)
    run = (await manager.start(project_id, "hi", session_id=None)).run
    terminal = (await events_of(manager, run.id))[-1]
    assert terminal["data"] == {"message": "the model server is down", "code": "model_error"}
    assert (await manager.get(run.id)).status == "failed"
    assert script.planner.seen == []


async def test_a_preparation_runs_before_each_run(new_manager: NewManager, script: Script, project_id: int) -> None:
    prepared: list[int] = []

    async def prepare() -> None:
        prepared.append(len(script.planner.seen))

    manager = await new_manager(prepare=prepare)
    await manager.wait((await manager.start(project_id, "hi", session_id=None)).run.id)
    assert prepared == [0]
    assert len(script.planner.seen) == 1


async def test_an_unexpected_error_is_logged_and_ends_the_run_as_internal(
    manager: RunManager, script: Script, project_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    script.broken = RuntimeError("secret detail")
    with caplog.at_level(logging.ERROR, logger="tandem.runs.manager"):
        run = (await manager.start(project_id, "hi", session_id=None)).run
        terminal = (await events_of(manager, run.id))[-1]
    assert terminal["data"] == {"message": "internal error; the server log has the details", "code": "internal"}
    ended = await manager.get(run.id)
    assert (ended.status, ended.error_code) == ("failed", "internal")
    (record,) = [r for r in caplog.records if r.name == "tandem.runs.manager"]
    assert record.getMessage() == f"run {run.id} failed"
    assert record.exc_info is not None
    assert record.exc_info[1] is script.broken


# -- stopping -------------------------------------------------------------------------------------


async def test_cancelling_a_run_stops_its_team_and_ends_it_cancelled(
    manager: RunManager, script: Script, bus: SharedCancelBus, project_id: int
) -> None:
    run_id, planner = await hanging_run(manager, script, project_id)
    cancelled = await manager.cancel(run_id)
    assert cancelled.id == run_id
    terminal = (await events_of(manager, run_id))[-1]
    assert planner.cancelled.is_set()
    assert terminal["data"] == {"message": "the run was stopped", "code": "cancelled"}
    ended = await manager.get(run_id)
    assert (ended.status, ended.error_code, ended.error_message) == ("cancelled", "cancelled", "the run was stopped")
    assert ended.active_project_id is None
    # The run was here: no other process was asked.
    assert bus.published == []


async def test_a_run_in_another_process_is_cancelled_through_the_bus(
    new_manager: NewManager, script: Script, bus: SharedCancelBus, project_id: int
) -> None:
    executing = await new_manager()
    other = await new_manager()
    run_id, planner = await hanging_run(executing, script, project_id)
    await other.cancel(run_id)
    assert bus.published == [run_id]
    assert (await executing.wait(run_id)).status == "cancelled"
    assert planner.cancelled.is_set()


async def test_cancelling_an_ended_run_changes_nothing(
    manager: RunManager, bus: SharedCancelBus, project_id: int
) -> None:
    run = (await manager.start(project_id, "hi", session_id=None)).run
    await manager.wait(run.id)
    assert (await manager.cancel(run.id)).status == "completed"
    assert bus.published == []
    with pytest.raises(NotFound, match=r"^run nope does not exist$"):
        await manager.cancel("nope")


async def test_shutdown_ends_every_live_run_as_interrupted(
    new_manager: NewManager, script: Script, sessions: async_sessionmaker[AsyncSession]
) -> None:
    manager = await new_manager()
    planners = []
    runs = []
    for name in ("a", "b"):
        run_id, planner = await hanging_run(manager, script, await new_project(sessions, name))
        runs.append(run_id)
        planners.append(planner)
    await manager.shutdown()
    for run_id, planner in zip(runs, planners, strict=True):
        assert planner.cancelled.is_set()
        ended = await manager.get(run_id)
        assert (ended.status, ended.error_code, ended.error_message) == (
            "interrupted",
            "interrupted",
            "the server stopped during the run",
        )
        assert (await stored(sessions, run_id))[-1]["data"] == {
            "message": "the server stopped during the run",
            "code": "interrupted",
        }


async def test_shutdown_waits_for_the_lease_monitor_to_end(new_manager: NewManager) -> None:
    manager = await new_manager(lease_seconds=3600)
    [monitor] = [t for t in asyncio.all_tasks() if t.get_name() == "lease-monitor" and not t.done()]
    await manager.shutdown()
    assert monitor.done()


async def test_a_cancel_during_shutdown_keeps_the_first_reason(
    new_manager: NewManager, script: Script, project_id: int
) -> None:
    manager = await new_manager()
    run_id, _ = await hanging_run(manager, script, project_id)
    await manager.cancel(run_id)
    await manager.shutdown()
    assert (await manager.get(run_id)).status == "cancelled"


async def test_runs_of_a_dead_process_are_interrupted_at_start_up(
    new_manager: NewManager, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    manager = await new_manager()
    run = (await manager.start(project_id, "hi", session_id=None)).run
    await manager.wait(run.id)
    # As if the process had died mid-run, after persisting three events.
    async with sessions.begin() as session:
        await session.execute(
            update(Run).where(Run.id == run.id).values(status="running", active_project_id=project_id, last_seq=1)
        )
        await session.execute(RunEventRow.__table__.delete().where(RunEventRow.run_id == run.id, RunEventRow.seq > 1))
    restarted = await new_manager()
    ended = await restarted.get(run.id)
    assert (ended.status, ended.error_code, ended.error_message, ended.active_project_id, ended.last_seq) == (
        "interrupted",
        "interrupted",
        "the server running this run stopped",
        None,
        2,
    )
    assert ended.finished_at is not None
    events = await events_of(restarted, run.id)
    assert [(e["seq"], e["type"]) for e in events] == [(1, "start"), (2, "error")]
    assert events[-1]["data"] == {"message": "the server running this run stopped", "code": "interrupted"}
    assert await restarted.interrupt_stale(None) == 0


async def test_with_a_lease_only_runs_whose_lease_lapsed_in_other_processes_are_interrupted(
    new_manager: NewManager, script: Script, sessions: async_sessionmaker[AsyncSession]
) -> None:
    manager = await new_manager(lease_seconds=3600)
    mine, _ = await hanging_run(manager, script, await new_project(sessions, "mine"))
    fresh, _ = await hanging_run(manager, script, await new_project(sessions, "fresh"))
    lapsed, _ = await hanging_run(manager, script, await new_project(sessions, "lapsed"))
    long_ago = datetime.now(UTC) - timedelta(seconds=100)
    async with sessions.begin() as session:
        await session.execute(update(Run).where(Run.id.in_([fresh, lapsed])).values(owner="dead"))
        await session.execute(update(Run).where(Run.id.in_([mine, lapsed])).values(heartbeat_at=long_ago))
    assert await manager.interrupt_stale(50) == 1
    assert [(await manager.get(r)).status for r in (mine, fresh, lapsed)] == ["running", "running", "interrupted"]


async def test_the_lease_monitor_keeps_checking_even_after_a_failed_check(
    new_manager: NewManager,
    script: Script,
    sessions: async_sessionmaker[AsyncSession],
    project_id: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dying = await new_manager()
    run_id, _ = await hanging_run(dying, script, project_id)
    begin = sessions.begin
    checks = 0

    def failing_once() -> Any:
        nonlocal checks
        checks += 1
        if checks == 1:
            raise RuntimeError("the database is away")
        return begin()

    monkeypatch.setattr(sessions, "begin", failing_once)
    with caplog.at_level(logging.ERROR, logger="tandem.runs.manager"):
        watching = await new_manager(lease_seconds=0.1)
        # The process dies after the first (failed) check: its run's lease lapses.
        async with begin() as session:
            await session.execute(
                update(Run).where(Run.id == run_id).values(owner="dead", heartbeat_at=datetime.now(UTC) - timedelta(1))
            )
        assert (await watching.wait(run_id)).status == "interrupted"
    (record,) = [r for r in caplog.records if r.name == "tandem.runs.manager"]
    assert record.getMessage() == "checking run leases failed"
    assert str(record.exc_info and record.exc_info[1]) == "the database is away"


async def test_a_run_interrupted_elsewhere_ends_its_local_stream(
    new_manager: NewManager, script: Script, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    """The log of a run taken over gets what was persisted but never published, then the end."""
    manager = await new_manager(lease_seconds=3600)
    run_id, _ = await hanging_run(manager, script, project_id)
    async with sessions.begin() as session:
        await session.execute(
            update(Run).where(Run.id == run_id).values(owner="dead", heartbeat_at=datetime.now(UTC) - timedelta(1))
        )
    assert await manager.interrupt_stale(50) == 1
    events = await events_of(manager, run_id)
    assert [(e["seq"], e["type"]) for e in events][-1] == (2, "error")


async def test_a_run_ended_elsewhere_without_reaching_the_log_still_ends_its_streams(
    new_manager: NewManager, script: Script, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    """The process that ends a dead process's run may be unable to publish the end (its log lacks
    the run, Redis is away): a stream waiting on the log learns the end from the database."""
    executing = await new_manager(ping_seconds=0.05, lease_seconds=3600)
    survivor = await new_manager(lease_seconds=3600)
    run_id, _ = await hanging_run(executing, script, project_id)
    async with sessions.begin() as session:
        await session.execute(
            update(Run).where(Run.id == run_id).values(owner="dead", heartbeat_at=datetime.now(UTC) - timedelta(1))
        )
    assert await survivor.interrupt_stale(50) == 1
    async with asyncio.timeout(10):
        events = await events_of(executing, run_id, 1)
    assert [(e["seq"], e["type"], e["data"].get("code")) for e in events] == [(2, "error", "interrupted")]


# -- following ------------------------------------------------------------------------------------


async def test_a_stream_resumes_after_the_last_event_it_got(
    manager: RunManager, script: Script, project_id: int
) -> None:
    hand_off_script(script)
    run = (await manager.start(project_id, "hi", session_id=None)).run
    everything = await events_of(manager, run.id)
    for after in (1, 4, len(everything) - 1, len(everything)):
        assert await events_of(manager, run.id, after) == everything[after:]


async def test_a_finished_runs_log_gone_the_database_replays_it(
    new_manager: NewManager, script: Script, sessions: async_sessionmaker[AsyncSession], project_id: int
) -> None:
    manager = await new_manager(retention=0)
    # Another run's events are in the database too.
    await manager.wait((await manager.start(await new_project(sessions, "other"), "hi", session_id=None)).run.id)
    hand_off_script(script)
    run = (await manager.start(project_id, "hi", session_id=None)).run
    live = await events_of(manager, run.id)
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(live) == 8
    for after in (0, 1, 5, 7):
        assert await events_of(manager, run.id, after) == live[after:]
    assert await events_of(manager, run.id, 8) == []


async def test_a_stream_of_an_idle_run_gets_pings(new_manager: NewManager, script: Script, project_id: int) -> None:
    manager = await new_manager(ping_seconds=0.01)
    run_id, _ = await hanging_run(manager, script, project_id)
    stream = manager.follow(run_id, 1)
    assert await anext(stream) == PING_FRAME
    assert await anext(stream) == PING_FRAME
    await stream.aclose()


async def test_a_run_executing_in_another_process_is_followed_from_the_database(
    new_manager: NewManager, script: Script, project_id: int
) -> None:
    executing = await new_manager()
    viewer = await new_manager(ping_seconds=0.3)
    run_id, _ = await hanging_run(executing, script, project_id)
    stream = viewer.follow(run_id)
    first, _ = parse(await anext(stream))
    assert [e["type"] for e in first] == ["start"]
    # Idle: the stream polls the database and pings the client meanwhile.
    assert await anext(stream) == PING_FRAME
    resumed = viewer.follow(run_id, 1)
    assert await anext(resumed) == PING_FRAME
    await executing.cancel(run_id)
    for follower in (stream, resumed):
        rest, _ = parse(b"".join([chunk async for chunk in follower]))
        assert [(e["seq"], e["type"]) for e in rest] == [(2, "error")]


async def test_a_run_that_goes_live_while_followed_from_the_database_is_then_followed_in_memory(
    new_manager: NewManager,
    script: Script,
    sessions: async_sessionmaker[AsyncSession],
    project_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream that arrives between a run's creation and its launch finds it in the database first."""
    manager = await new_manager(ping_seconds=0.1)
    begin = sessions.begin
    created, launch = asyncio.Event(), asyncio.Event()

    @contextlib.asynccontextmanager
    async def held_after_commit() -> AsyncIterator[AsyncSession]:
        async with begin() as session:
            yield session
            rows = [*session.new, *session.identity_map.values()]
            creates_the_run = any(isinstance(row, Run) and row.project_id == project_id for row in rows)
        # Only the transaction that creates the run (others come first, such as the history's commit).
        if creates_the_run and not created.is_set():
            created.set()
            await launch.wait()

    monkeypatch.setattr(sessions, "begin", held_after_commit)
    hand_off_script(script)
    starting = asyncio.create_task(manager.start(project_id, "hi", session_id=None))
    await created.wait()
    async with sessions() as session:
        run_id = await session.scalar(select(Run.id).where(Run.project_id == project_id))
    assert run_id is not None
    stream = manager.follow(run_id)
    first, _ = parse(await anext(stream))
    assert [e["seq"] for e in first] == [1]
    assert await anext(stream) == PING_FRAME
    launch.set()
    await starting

    async def from_the_database(*_: object) -> NoReturn:
        raise AssertionError("the stream read the database after the run went live here")

    monkeypatch.setattr(RunStore, "events_after", from_the_database)
    rest, _ = parse(b"".join([chunk async for chunk in stream]))
    assert [e["seq"] for e in rest] == list(range(2, 9))
    assert rest[-1]["type"] == "complete"


async def test_a_stream_of_an_unknown_run_ends_at_once(manager: RunManager) -> None:
    assert await read(manager, "nope") == b""


@pytest.mark.parametrize("retention", [60, 0], ids=["live", "from the database"])
async def test_events_larger_than_the_chunk_size_reach_the_stream_cut_in_pieces(
    new_manager: NewManager, script: Script, project_id: int, retention: float
) -> None:
    manager = await new_manager(retention=retention)
    thought, answer = "hmm " * (STREAM_CHUNK_BYTES // 3), "word " * (STREAM_CHUNK_BYTES // 2)
    script.planner = Playbook([[ThinkingPart(thought), call("list_files", "l1")], [TextPart(answer)]])
    run = (await manager.start(project_id, "hi", session_id=None)).run
    await manager.wait(run.id)
    for _ in range(10):
        await asyncio.sleep(0)
    chunks = [chunk async for chunk in manager.follow(run.id)]
    assert all(len(chunk) <= STREAM_CHUNK_BYTES for chunk in chunks)
    assert len(chunks) >= 5
    events, _ = parse(b"".join(chunks))
    assert [e["type"] for e in events] == ["start", *["agent_interaction"] * 3, "complete"]
    assert events[1]["data"]["content"] == thought
    assert events[-1]["data"]["message"]["content"] == answer


async def test_a_replay_from_the_database_comes_in_pieces_as_full_as_the_chunk_size_allows(
    new_manager: NewManager, script: Script, project_id: int
) -> None:
    manager = await new_manager(retention=0)
    # Ten thoughts of about 9 KB each, with their tool calls and results between: about 95 KB of frames.
    script.planner = Playbook(
        [[ThinkingPart(f"{step} " * 3000), call("list_files", f"l{step}")] for step in range(10)] + [[TextPart("done")]]
    )
    run = (await manager.start(project_id, "hi", session_id=None)).run
    live = await events_of(manager, run.id)
    for _ in range(10):
        await asyncio.sleep(0)
    chunks = [chunk async for chunk in manager.follow(run.id)]
    assert all(len(chunk) <= STREAM_CHUNK_BYTES for chunk in chunks)
    # Whole frames in each piece (`parse` reads each piece on its own), and nothing lost.
    assert [event for chunk in chunks for event in parse(chunk)[0]] == live
    for chunk, after in itertools.pairwise(chunks):
        next_frame = after[: after.index(b"\n\n") + 2]
        assert len(chunk) + len(next_frame) > STREAM_CHUNK_BYTES, "the next frame would have fitted"


async def test_wait_returns_the_run_as_it_ended(manager: RunManager, project_id: int) -> None:
    run = (await manager.start(project_id, "hi", session_id=None)).run
    assert run.status == "running"
    ended = await manager.wait(run.id)
    assert (ended.id, ended.status) == (run.id, "completed")
    with pytest.raises(NotFound, match=r"^run nope does not exist$"):
        await manager.get("nope")
