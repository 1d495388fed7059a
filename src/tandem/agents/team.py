"""The Planner + Coder team on pydantic-ai, reporting every step as a `TeamEvent` as it happens."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from pydantic_ai import Agent, CancellationToken
from pydantic_ai.exceptions import (
    AgentRunError,
    ModelAPIError,
    RunTimedOut,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
    UserError,
)
from pydantic_ai.exceptions import RunCancelled as PydanticRunCancelled
from pydantic_ai.messages import (
    ERROR_OUTCOMES,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RunUsage, UsageLimits

from tandem.agents.adapt.model import AdaptedModel
from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.diagnose import explain
from tandem.agents.events import Delta, Finished, TeamEvent, Thought, ToolCall, ToolResult, Turn
from tandem.agents.models import redact_model_error
from tandem.agents.retries import RetryPolicy
from tandem.agents.tools import READ_TOOLS, WRITE_TOOLS, TeamDeps, hand_off_to_coder, run_command
from tandem.errors import LimitExceeded, ModelFailed, RunCancelled
from tandem.events import AgentName, DeltaType, Usage
from tandem.sandbox.command import Sandbox
from tandem.settings import RunLimits
from tandem.workspace.files import ProjectFiles

PLANNER_INSTRUCTIONS = """\
You are the Planner in Tandem, an AI code editor. You work with a Coder on the user's project.
Understand the request, read the files you need (list_files, read_file, search_files), then write a
short, concrete plan and call hand_off_to_coder with it: the Coder is the only one who can change
files. When the Coder reports back, answer the user: what was changed and why, briefly, in Markdown.
If the request needs no file changes, answer directly without handing off."""

CODER_INSTRUCTIONS = """\
You are the Coder in Tandem, an AI code editor. Carry out the Planner's plan on the project's files
with your tools. Paths are relative to the project root. Prefer edit_file for small changes to
existing files and write_file for new files or rewrites. Read a file before editing it. When done,
report what you changed in a few sentences."""

CODER_COMMANDS = """\
You can run commands with run_command (tests, a build, a script) to check your work; run the
project's tests after changing code when it has them."""


class _Done:
    pass


class _UsageMeter:
    def __init__(self, cost_limit: float | None) -> None:
        self.by_agent: dict[str, Usage] = {"Planner": Usage(), "Coder": Usage()}
        self._cost_limit = cost_limit
        self._priced = {"Planner": True, "Coder": True}

    def response(self, agent: AgentName, response: ModelResponse) -> None:
        current = self.by_agent[agent]
        cost = _cost(response)
        self._priced[agent] = self._priced[agent] and cost is not None
        self.by_agent[agent] = current.model_copy(
            update={
                "requests": current.requests + 1,
                "input_tokens": current.input_tokens + response.usage.input_tokens,
                "output_tokens": current.output_tokens + response.usage.output_tokens,
                "tool_calls": current.tool_calls + sum(isinstance(p, ToolCallPart) for p in response.parts),
                "cost_usd": (current.cost_usd or 0.0) + cost if self._priced[agent] and cost is not None else None,
            }
        )
        spent = sum(usage.cost_usd or 0.0 for usage in self.by_agent.values())
        if self._cost_limit is not None and spent > self._cost_limit:
            raise LimitExceeded(
                f"the run's estimated cost, ${spent:.4f}, is over its limit of ${self._cost_limit:g}; "
                "raise TANDEM_LIMIT_COST_USD to allow more"
            )


def _cost(response: ModelResponse) -> float | None:
    """The response's estimated cost in US dollars, if genai-prices knows the model's price."""
    try:
        return float(response.cost().total_price)
    except (LookupError, ValueError, AssertionError):
        return None


def _history(turns: Sequence[Turn]) -> list[ModelMessage]:
    messages: list[ModelMessage] = []
    for turn in turns:
        messages.append(ModelRequest(parts=[UserPromptPart(content=turn.user)]))
        messages.append(ModelResponse(parts=[TextPart(content=turn.assistant)]))
    return messages


@dataclass(frozen=True, kw_only=True)
class Retries:
    """`TANDEM_MODEL_RETRIES` and `TANDEM_MODEL_RETRY_MAX_SECONDS`."""

    retries: int = 4
    max_wait: float = 60.0


class Team:
    def __init__(
        self,
        *,
        planner_model: Model,
        coder_model: Model,
        streaming: bool,
        limits: RunLimits,
        quirks: Mapping[AgentName, ServerQuirks] | None = None,
        retries: Retries | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        """`sandbox`: where the Coder's commands run; without one it gets no `run_command` tool."""
        self._streaming = streaming
        self._limits = limits
        self._retries = retries or Retries()
        self._sandbox = sandbox
        self._models: dict[AgentName, Model] = {"Planner": planner_model, "Coder": coder_model}
        self._quirks: Mapping[AgentName, ServerQuirks] = quirks or {"Planner": ServerQuirks(), "Coder": ServerQuirks()}
        self._planner = Agent(
            planner_model,
            name="Planner",
            deps_type=TeamDeps,
            output_type=str,
            instructions=PLANNER_INSTRUCTIONS,
            tools=[*READ_TOOLS, hand_off_to_coder],
        )
        self._coder = Agent(
            coder_model,
            name="Coder",
            deps_type=TeamDeps,
            output_type=str,
            instructions=CODER_INSTRUCTIONS if sandbox is None else f"{CODER_INSTRUCTIONS}\n{CODER_COMMANDS}",
            tools=[*READ_TOOLS, *WRITE_TOOLS, *([run_command] if sandbox is not None else [])],
        )

    async def run_stream(
        self, request: str, *, files: ProjectFiles, run_id: str, history: Sequence[Turn] = ()
    ) -> AsyncIterator[TeamEvent]:
        """Yield the team's events as they happen; the last one is `Finished`.

        Raises a `RunFailed` subclass if the run cannot finish. Closing the iterator early (or
        cancelling the task consuming it) stops the model calls and the tools of both agents.
        """
        queue: asyncio.Queue[TeamEvent | _Done | BaseException] = asyncio.Queue()
        deadline = asyncio.get_running_loop().time() + self._limits.wall_seconds
        token = CancellationToken()
        meter = _UsageMeter(self._limits.cost_usd)
        limits = UsageLimits(
            request_limit=self._limits.model_requests,
            tool_calls_limit=self._limits.tool_calls,
            total_tokens_limit=self._limits.total_tokens,
        )

        async def delegate(plan: str, usage: RunUsage) -> str:
            return await self._drive(
                self._coder, "Coder", plan, deps, token, meter, limits=limits, deadline=deadline, usage=usage
            )

        deps = TeamDeps(
            files=files,
            run_id=run_id,
            tool_output_chars=self._limits.tool_output_chars,
            search_seconds=self._limits.search_seconds,
            emit=queue.put,
            delegate=delegate,
            sandbox=self._sandbox,
        )
        listing = "\n".join(f"- {f.path} ({f.size} bytes)" for f in await files.list_files()) or "(no files)"
        prompt = f"{request}\n\n<project-files>\n{listing}\n</project-files>"

        async def drive() -> None:
            try:
                output = await self._drive(
                    self._planner,
                    "Planner",
                    prompt,
                    deps,
                    token,
                    meter,
                    limits=limits,
                    deadline=deadline,
                    history=_history(history),
                )
                await queue.put(Finished(agent="Planner", output=output, usage=meter.by_agent))
            except BaseException as error:
                await queue.put(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
            finally:
                await queue.put(_Done())

        task = asyncio.create_task(drive(), name=f"team-{run_id}")
        try:
            while not isinstance(item := await queue.get(), _Done):
                if isinstance(item, BaseException):
                    raise _translate(item) from item
                yield item
        finally:
            if not task.done():
                token.cancel()
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _drive(
        self,
        agent: Agent[TeamDeps, str],
        name: AgentName,
        prompt: str,
        deps: TeamDeps,
        token: CancellationToken,
        meter: _UsageMeter,
        *,
        limits: UsageLimits,
        deadline: float,
        history: list[ModelMessage] | None = None,
        usage: RunUsage | None = None,
    ) -> str:
        emit = deps.emit

        async def notify(text: str) -> None:
            await emit(Thought(agent="System", content=text))

        async def on_stream_event(event: ModelResponseStreamEvent) -> None:
            if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart | ThinkingPart):
                if event.part.content:
                    kind: DeltaType = "message" if isinstance(event.part, TextPart) else "thought"
                    await emit(Delta(agent=name, kind=kind, text=event.part.content))
            elif isinstance(event, PartDeltaEvent):
                if isinstance(event.delta, TextPartDelta) and event.delta.content_delta:
                    await emit(Delta(agent=name, kind="message", text=event.delta.content_delta))
                elif isinstance(event.delta, ThinkingPartDelta) and event.delta.content_delta:
                    await emit(Delta(agent=name, kind="thought", text=event.delta.content_delta))

        model = AdaptedModel(
            self._models[name],
            quirks=self._quirks[name],
            on_stream_event=on_stream_event if self._streaming else None,
            notify=notify,
            policy=RetryPolicy(retries=self._retries.retries, max_wait=self._retries.max_wait, deadline=deadline),
        )
        async with agent.iter(
            prompt,
            deps=deps,
            model=model,
            message_history=history,
            usage=usage,
            usage_limits=limits,
            cancellation_token=token,
            # One deadline for the run, not one per agent: the Coder runs inside the Planner's hand-off
            # tool call, so pydantic-ai gives it the Planner's deadline (its own can only be earlier) and
            # the Planner's expiry cancels it (tests/api/test_wall_limit.py).
            timeout=self._limits.wall_seconds,
            # Retries are `AdaptedModel`'s, visible in the stream; the SDKs' own would be silent.
            model_settings=ModelSettings(parallel_tool_calls=True, max_retries=0),
        ) as run:
            async for node in run:
                if Agent.is_call_tools_node(node):
                    response = node.model_response
                    meter.response(name, response)
                    calls_tools = any(isinstance(p, ToolCallPart) for p in response.parts)
                    for part in response.parts:
                        # Text beside tool calls is reasoning; text alone is the agent's answer.
                        text = part.content if isinstance(part, ThinkingPart | TextPart) else ""
                        if text.strip() and (isinstance(part, ThinkingPart) or calls_tools):
                            await emit(Thought(agent=name, content=text))
                    async with node.stream(run.ctx) as tool_events:
                        async for event in tool_events:
                            if isinstance(event, FunctionToolCallEvent):
                                await emit(
                                    ToolCall(
                                        agent=name,
                                        tool_name=event.part.tool_name,
                                        arguments=event.part.args_as_dict(),
                                        tool_call_id=event.part.tool_call_id,
                                    )
                                )
                            elif isinstance(event, FunctionToolResultEvent):
                                content = deps.full_outputs.pop(event.tool_call_id, None)
                                await emit(
                                    ToolResult(
                                        tool_name=event.part.tool_name,
                                        content=content if content is not None else event.part.model_response_str(),
                                        tool_call_id=event.tool_call_id,
                                        failed=event.part.outcome in ERROR_OUTCOMES,
                                    )
                                )
            assert run.result is not None
            return run.result.output


# pydantic-ai's name for a limit → what it counts and the Tandem setting that raises it. Its own
# message ends with advice and a link to its docs, which a Tandem user can do nothing with.
_USAGE_LIMITS = {
    "request_limit": ("model requests", "TANDEM_LIMIT_MODEL_REQUESTS"),
    "tool_calls_limit": ("tool calls", "TANDEM_LIMIT_TOOL_CALLS"),
    "total_tokens_limit": ("tokens", "TANDEM_LIMIT_TOTAL_TOKENS"),
}


def _usage_limit(error: UsageLimitExceeded) -> LimitExceeded:
    found = re.search(r"\b(\w+_limit) of (\d+)", str(error))
    if found is None or found[1] not in _USAGE_LIMITS:
        return LimitExceeded(f"the run reached a usage limit: {error}")
    what, setting = _USAGE_LIMITS[found[1]]
    return LimitExceeded(f"the run reached its limit of {found[2]} {what}; raise {setting} to allow more")


def _translate(error: BaseException) -> BaseException:
    """pydantic-ai's exceptions, as the run's outcome."""
    match error:
        case RunTimedOut():
            return LimitExceeded(
                f"the run took longer than its time limit ({error}); raise TANDEM_LIMIT_WALL_SECONDS to allow more"
            )
        case PydanticRunCancelled():
            return RunCancelled("the run was cancelled")
        case UsageLimitExceeded():
            return _usage_limit(error)
        case ModelAPIError() | UnexpectedModelBehavior() | AgentRunError() | UserError():
            fix = explain(error)
            return ModelFailed(redact_model_error(f"{fix} The server said: {error}" if fix else str(error)))
        case _:  # a `RunFailed` of ours, a cancellation, anything unexpected: as it is
            return error
