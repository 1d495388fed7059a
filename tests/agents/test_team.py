"""The Planner + Coder team on pydantic-ai `FunctionModel`s that play a fixed script: the events it
reports, in order, what each model is given, the limits, the errors, and stopping it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from pydantic_ai.exceptions import (
    AgentRunError,
    ModelAPIError,
    ModelHTTPError,
    RunTimedOut,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
    UserError,
)
from pydantic_ai.exceptions import RunCancelled as PydanticRunCancelled
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ThinkingPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import (
    AgentInfo,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.events import Delta, FileChanged, Finished, TeamEvent, Thought, ToolCall, ToolResult, Turn
from tandem.agents.team import (
    CODER_COMMANDS,
    CODER_INSTRUCTIONS,
    PLANNER_INSTRUCTIONS,
    Retries,
    Team,
    _translate,
)
from tandem.errors import LimitExceeded, ModelFailed, RunCancelled, RunFailed
from tandem.events import Usage
from tandem.sandbox.command import Sandbox
from tandem.settings import RunLimits
from tandem.workspace import changes
from tandem.workspace.files import ProjectFiles
from tests.playbook import Playbook, call
from tests.support import SeededRun

# The database is not what these tests are about: one backend keeps them fast enough to run per mutant.
one_backend = pytest.mark.parametrize("sessions", ["sqlite"], indirect=True)

Summary = tuple[object, ...]


def summary(event: TeamEvent) -> Summary:
    match event:
        case Thought():
            return ("thought", event.agent, event.content)
        case Delta():
            return ("delta", event.agent, event.kind, event.text)
        case ToolCall():
            return ("call", event.agent, event.tool_name, event.arguments, event.tool_call_id)
        case ToolResult():
            return ("result", event.tool_name, event.content, event.tool_call_id)
        case FileChanged():
            return ("changed", event.path, event.change_type)
        case Finished():
            return ("finished", event.agent, event.output)


def team(planner: Playbook, coder: Playbook, *, streaming: bool = False, **limits: float) -> Team:
    return Team(
        planner_model=planner.model(),
        coder_model=coder.model(),
        streaming=streaming,
        limits=RunLimits(**limits),  # type: ignore[arg-type]
    )


async def collect(
    running: Team, files: ProjectFiles, run: SeededRun, request: str = "add hello", history: Sequence[Turn] = ()
) -> list[TeamEvent]:
    return [event async for event in running.run_stream(request, files=files, run_id=run.id, history=history)]


def hand_off_script() -> tuple[Playbook, Playbook]:
    """The Planner lists the files and hands off; the Coder writes one file and reports."""
    planner = Playbook(
        [
            [ThinkingPart("Looking first."), call("list_files", "p1")],
            [TextPart("Plan: write it."), call("hand_off_to_coder", "p2", plan="write hello.txt")],
            [TextPart("Done: hello.txt")],
        ]
    )
    coder = Playbook(
        [
            [TextPart("  "), call("write_file", "c1", path="hello.txt", content="hello\n")],
            [TextPart("I wrote hello.txt.")],
        ]
    )
    return planner, coder


@one_backend
async def test_the_team_reports_each_step_in_order(
    project_files: ProjectFiles, run: SeededRun, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await project_files.write("a.txt", "a")
    planner, coder = hand_off_script()
    events = await collect(team(planner, coder), project_files, run)
    assert [summary(event) for event in events] == [
        ("thought", "Planner", "Looking first."),
        ("call", "Planner", "list_files", {}, "p1"),
        ("result", "list_files", "a.txt (1 bytes)", "p1"),
        ("thought", "Planner", "Plan: write it."),
        ("call", "Planner", "hand_off_to_coder", {"plan": "write hello.txt"}, "p2"),
        ("call", "Coder", "write_file", {"path": "hello.txt", "content": "hello\n"}, "c1"),
        ("changed", "hello.txt", "created"),
        ("result", "write_file", "Wrote hello.txt (6 bytes).", "c1"),
        ("result", "hand_off_to_coder", "I wrote hello.txt.", "p2"),
        ("finished", "Planner", "Done: hello.txt"),
    ]
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.usage == {
        "Planner": Usage(requests=3, input_tokens=600, output_tokens=6, tool_calls=2),
        "Coder": Usage(requests=2, input_tokens=300, output_tokens=3, tool_calls=1),
    }
    async with sessions() as session:
        recorded = await changes.list_for_run(session, run.id)
    assert [(c.path, c.change_type) for c in recorded] == [("hello.txt", "created")]
    changed = events[6]
    assert isinstance(changed, FileChanged)
    assert changed.change_id == recorded[0].id


def _price(playbook: Playbook) -> float:
    """What genai-prices charges for the playbook's responses (request n: 100 n tokens in, n out)."""
    steps = range(1, len(playbook.steps) + 1)
    return sum(
        float(calc_price(PriceUsage(input_tokens=100 * n, output_tokens=n), model_ref="gpt-4o").total_price)
        for n in steps
    )


@one_backend
@pytest.mark.parametrize("coder_model", ["gpt-4o", None])
async def test_each_agent_reports_its_cost_while_every_response_is_priced(
    project_files: ProjectFiles, run: SeededRun, coder_model: str | None
) -> None:
    planner, coder = hand_off_script()
    planner.model_name, coder.model_name = "gpt-4o", coder_model
    finished = (await collect(team(planner, coder), project_files, run))[-1]
    assert isinstance(finished, Finished)
    assert finished.usage["Planner"].cost_usd == pytest.approx(_price(planner))
    assert finished.usage["Coder"].cost_usd == (None if coder_model is None else pytest.approx(_price(coder)))


@one_backend
async def test_a_run_may_cost_up_to_its_limit_and_an_unpriced_agent_counts_nothing(
    project_files: ProjectFiles, run: SeededRun
) -> None:
    planner, coder = hand_off_script()
    planner.model_name = "gpt-4o"
    finished = (await collect(team(planner, coder, cost_usd=_price(planner)), project_files, run))[-1]
    assert isinstance(finished, Finished)


@one_backend
async def test_a_run_over_its_cost_limit_ends_with_limit_exceeded(project_files: ProjectFiles, run: SeededRun) -> None:
    planner, coder = hand_off_script()
    planner.model_name = coder.model_name = "gpt-4o"
    first = _price(Playbook([[]]))
    expected = (
        rf"^the run's estimated cost, \${first:.4f}, is over its limit of \$1e-05; "
        r"raise TANDEM_LIMIT_COST_USD to allow more$"
    )
    with pytest.raises(LimitExceeded, match=expected):
        await collect(team(planner, coder, cost_usd=0.00001), project_files, run)
    assert len(planner.seen) == 1


class FailingOnce(Playbook):
    """Its first request fails as a model server that is loading would (503, which is retried)."""

    async def _next(self, messages: list[ModelMessage], info: AgentInfo) -> list[ModelResponsePart]:
        if not self.seen:
            self.seen.append(messages)
            raise ModelHTTPError(503, "m", body="loading")
        return await super()._next(messages, info)


@one_backend
@pytest.mark.parametrize("failing", ["Planner", "Coder"])
async def test_a_failed_request_is_retried_within_the_wall_limit(
    project_files: ProjectFiles, run: SeededRun, failing: str
) -> None:
    planner = (FailingOnce if failing == "Planner" else Playbook)(
        [*([[]] if failing == "Planner" else []), [call("hand_off_to_coder", "p1", plan="go")], [TextPart("ok")]]
    )
    coder = (FailingOnce if failing == "Coder" else Playbook)(
        [*([[]] if failing == "Coder" else []), [TextPart("done")]]
    )
    running = Team(
        planner_model=planner.model(),
        coder_model=coder.model(),
        streaming=False,
        limits=RunLimits(),
        retries=Retries(retries=1, max_wait=0.01),
    )
    events = [summary(e) for e in await collect(running, project_files, run)]
    retried = (
        "thought",
        "System",
        "the model server is unavailable or overloaded (HTTP 503), retrying in 0 s (retry 1 of 1)",
    )
    assert events.count(retried) == 1
    assert events[-1] == ("finished", "Planner", "ok")


@one_backend
async def test_each_agent_gets_its_instructions_tools_and_prompt(project_files: ProjectFiles, run: SeededRun) -> None:
    await project_files.write("src/b.py", "bb")
    await project_files.write("a.txt", "a")
    planner, coder = hand_off_script()
    await collect(team(planner, coder), project_files, run, request="add hello")
    first = planner.seen[0][0]
    assert isinstance(first, ModelRequest)
    assert first.instructions == PLANNER_INSTRUCTIONS
    assert [p.content for p in first.parts if isinstance(p, UserPromptPart)] == [
        "add hello\n\n<project-files>\n- a.txt (1 bytes)\n- src/b.py (2 bytes)\n</project-files>"
    ]
    coder_first = coder.seen[0][0]
    assert isinstance(coder_first, ModelRequest)
    assert coder_first.instructions == CODER_INSTRUCTIONS
    assert [p.content for p in coder_first.parts if isinstance(p, UserPromptPart)] == ["write hello.txt"]
    assert sorted(t.name for t in planner.infos[0].function_tools) == [
        "hand_off_to_coder",
        "list_files",
        "read_file",
        "search_files",
    ]
    assert sorted(t.name for t in coder.infos[0].function_tools) == [
        "delete_file",
        "edit_file",
        "list_files",
        "read_file",
        "search_files",
        "write_file",
    ]
    for info in (*planner.infos, *coder.infos):
        assert info.model_settings is not None
        assert info.model_settings.get("parallel_tool_calls") is True


@one_backend
async def test_with_a_sandbox_only_the_coder_may_run_commands_and_is_told_so(
    project_files: ProjectFiles, run: SeededRun, sandbox: Sandbox
) -> None:
    planner, coder = hand_off_script()
    with_commands = Team(
        planner_model=planner.model(), coder_model=coder.model(), streaming=False, limits=RunLimits(), sandbox=sandbox
    )
    await collect(with_commands, project_files, run)
    assert "run_command" in {t.name for t in coder.infos[0].function_tools}
    assert "run_command" not in {t.name for t in planner.infos[0].function_tools}
    coder_first = coder.seen[0][0]
    assert isinstance(coder_first, ModelRequest)
    assert coder_first.instructions == f"{CODER_INSTRUCTIONS}\n{CODER_COMMANDS}"


@one_backend
async def test_an_empty_project_is_listed_as_such_and_earlier_turns_come_first(
    project_files: ProjectFiles, run: SeededRun
) -> None:
    planner = Playbook([[TextPart("Nothing to change.")]])
    history = [Turn(user="first question", assistant="first answer"), Turn(user="second", assistant="again")]
    events = await collect(team(planner, Playbook([])), project_files, run, request="hi", history=history)
    assert [summary(event) for event in events] == [("finished", "Planner", "Nothing to change.")]
    messages = planner.seen[0]
    assert [type(m) for m in messages] == [ModelRequest, ModelResponse, ModelRequest, ModelResponse, ModelRequest]
    texts = [
        part.content for message in messages for part in message.parts if isinstance(part, UserPromptPart | TextPart)
    ]
    assert texts == [
        "first question",
        "first answer",
        "second",
        "again",
        "hi\n\n<project-files>\n(no files)\n</project-files>",
    ]


@one_backend
async def test_streaming_reports_thinking_and_text_as_they_arrive(project_files: ProjectFiles, run: SeededRun) -> None:
    planner, coder = hand_off_script()
    events = await collect(team(planner, coder, streaming=True), project_files, run)
    deltas = [summary(e) for e in events if isinstance(e, Delta)]
    assert deltas == [
        ("delta", "Planner", "thought", "Looking "),
        ("delta", "Planner", "thought", "first. "),
        ("delta", "Planner", "message", "Plan: "),
        ("delta", "Planner", "message", "write "),
        ("delta", "Planner", "message", "it. "),
        ("delta", "Coder", "message", "I "),
        ("delta", "Coder", "message", "wrote "),
        ("delta", "Coder", "message", "hello.txt. "),
        ("delta", "Planner", "message", "Done: "),
        ("delta", "Planner", "message", "hello.txt "),
    ]
    others = [summary(e) for e in events if not isinstance(e, Delta)]
    assert others[0] == ("thought", "Planner", "Looking first. ")
    assert others[-1] == ("finished", "Planner", "Done: hello.txt ")
    assert [s[0] for s in others].count("call") == 3


@one_backend
async def test_the_stream_gets_a_tool_output_whole_while_the_model_reads_it_cut(
    project_files: ProjectFiles, run: SeededRun
) -> None:
    await project_files.write("long.txt", "x" * 99)
    planner = Playbook(
        [
            [call("read_file", "p1", path="long.txt"), call("search_files", "p2", pattern="x{99}")],
            [TextPart("read it")],
        ]
    )
    events = await collect(team(planner, Playbook([]), tool_output_chars=100), project_files, run)
    results = [summary(e) for e in events if isinstance(e, ToolResult)]
    assert results == [
        ("result", "read_file", "x" * 99, "p1"),
        ("result", "search_files", "long.txt:1: " + "x" * 99, "p2"),
    ]
    returned = [
        (part.tool_call_id, part.model_response_str())
        for message in planner.seen[1]
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]
    assert returned == [
        ("p1", "x" * 99),
        ("p2", "long.txt:1: " + "x" * 88 + "\n[… output truncated: 11 more characters not shown]"),
    ]


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ({"model_requests": 4}, "the run reached its limit of 4 model requests; raise TANDEM_LIMIT_MODEL_REQUESTS"),
        ({"tool_calls": 1}, "the run reached its limit of 1 tool calls; raise TANDEM_LIMIT_TOOL_CALLS"),
        ({"total_tokens": 500}, "the run reached its limit of 500 tokens; raise TANDEM_LIMIT_TOTAL_TOKENS"),
    ],
)
@one_backend
async def test_the_limits_count_both_agents_together(
    project_files: ProjectFiles, run: SeededRun, limit: dict[str, int], message: str
) -> None:
    planner, coder = hand_off_script()
    with pytest.raises(LimitExceeded) as exceeded:
        await collect(team(planner, coder, **limit), project_files, run)
    assert exceeded.value.message == f"{message} to allow more", "names the Tandem setting, not pydantic's docs"


@one_backend
async def test_a_run_past_its_wall_time_ends_with_limit_exceeded(project_files: ProjectFiles, run: SeededRun) -> None:
    planner, _ = hand_off_script()
    coder = Playbook([None])
    with pytest.raises(
        LimitExceeded,
        match=r"^the run took longer than its time limit \(The agent run timed out\.\); "
        r"raise TANDEM_LIMIT_WALL_SECONDS to allow more$",
    ):
        await collect(team(planner, coder, wall_seconds=0.5), project_files, run)
    assert coder.cancelled.is_set(), "the Coder inside the hand-off shares the Planner's deadline"


@one_backend
async def test_a_model_error_ends_the_run_with_the_error_redacted(
    project_files: ProjectFiles, run: SeededRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "sk-secret-value-123")

    class Failing(Playbook):
        async def _next(self, messages: list[ModelMessage], info: AgentInfo) -> list[ModelResponsePart]:
            raise ModelAPIError("fake", "bad key sk-secret-value-123")

    with pytest.raises(ModelFailed) as failed:
        await collect(team(Failing([]), Playbook([])), project_files, run)
    assert "sk-secret-value-123" not in failed.value.message
    assert failed.value.message.startswith("bad key ")


@one_backend
async def test_closing_the_stream_stops_both_agents(project_files: ProjectFiles, run: SeededRun) -> None:
    planner, _ = hand_off_script()
    coder = Playbook([None])
    stream = team(planner, coder).run_stream("go", files=project_files, run_id=run.id)
    async for event in stream:
        if isinstance(event, ToolCall) and event.tool_name == "hand_off_to_coder":
            break
    await asyncio.wait_for(coder.hung.wait(), 30)
    await stream.aclose()  # type: ignore[attr-defined]
    assert coder.cancelled.is_set()
    assert len(planner.seen) == 2, "the Planner made no request after the close"
    assert [t.get_name() for t in asyncio.all_tasks() if t.get_name() == f"team-{run.id}"] == []


@one_backend
async def test_cancelling_the_consumer_stops_the_agents_and_their_tools(
    project_files: ProjectFiles, run: SeededRun
) -> None:
    planner, _ = hand_off_script()
    coder = Playbook([None])

    async def consume() -> None:
        await collect(team(planner, coder), project_files, run)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(coder.hung.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert coder.cancelled.is_set()
    assert await project_files.list_files() == []


@pytest.mark.parametrize(
    ("error", "translated"),
    [
        (
            RunTimedOut("deadline"),
            LimitExceeded("the run took longer than its time limit (deadline); raise TANDEM_LIMIT_WALL_SECONDS"),
        ),
        (PydanticRunCancelled("stop"), RunCancelled("the run was cancelled")),
        (UsageLimitExceeded("too many"), LimitExceeded("the run reached a usage limit: too many")),
        (ModelAPIError("m", "boom"), ModelFailed("boom")),
        (UnexpectedModelBehavior("odd"), ModelFailed("odd")),
        (AgentRunError("agent"), ModelFailed("agent")),
        (UserError("user"), ModelFailed("user")),
        (ModelHTTPError(401, "m", body="no"), ModelFailed("The model server rejected the API key. Set the right key")),
    ],
)
def test_pydantic_ai_errors_become_run_outcomes(error: BaseException, translated: RunFailed) -> None:
    result = _translate(error)
    assert type(result) is type(translated)
    assert isinstance(result, RunFailed)
    assert result.message.startswith(translated.message)  # pydantic-ai appends advice to a usage limit's


def test_run_outcomes_and_other_errors_pass_through() -> None:
    for error in (LimitExceeded("x"), asyncio.CancelledError(), ValueError("v")):
        assert _translate(error) is error
