"""The model check: a few small, real requests that show whether a model works with Tandem's agents.

Each step says in plain words what was tried and what came back; a failure names its fix. What the check
learns (the server cannot stream tool calls, it rejects `content: null`) goes into the model's
`ServerQuirks`, which choose how the runs talk to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from pydantic_ai.exceptions import ModelAPIError, UnexpectedModelBehavior
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition

from tandem.agents.adapt import null_content
from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.check_report import CheckStep, ModelCheck, StepName
from tandem.agents.diagnose import WHERE, explain, no_tool_support
from tandem.agents.models import redact_model_error

_SETTINGS = ModelSettings(max_tokens=200, temperature=0, max_retries=0, timeout=60)
_TOOL = ToolDefinition(
    name="save_note",
    description="Save a short note.",
    parameters_json_schema={
        "type": "object",
        "properties": {"note": {"type": "string", "description": "The note."}},
        "required": ["note"],
    },
)
_TOOLS = ModelRequestParameters(function_tools=[_TOOL], allow_text_output=False)
_ASK_TOOL = "Call the save_note tool with the note 'hello'."


def _failure(error: Exception) -> tuple[str, str | None]:
    said = redact_model_error(str(error))
    return said, explain(error)


async def _streamed(model: Model, messages: list[ModelMessage]) -> ModelResponse:
    async with model.request_stream(messages, _SETTINGS, _TOOLS) as stream:
        async for _ in stream:
            pass
    return stream.get()


def _calls(response: ModelResponse) -> list[ToolCallPart]:
    return [part for part in response.parts if isinstance(part, ToolCallPart)]


async def check_model(name: str, model: Model, quirks: ServerQuirks, *, http: httpx.AsyncClient) -> ModelCheck:
    steps: list[CheckStep] = []
    ask: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart(content=_ASK_TOOL)])]

    def step(step_name: StepName, ok: bool | None, detail: str, fix: str | None = None) -> None:
        steps.append(CheckStep(name=step_name, ok=ok, detail=detail, fix=fix))

    def skipped(*names: StepName) -> None:
        for skipped_name in names:
            step(skipped_name, None, "Not tried: fix the step above first.")

    async def attempt(call: Callable[[], Awaitable[ModelResponse]]) -> ModelResponse | Exception:
        try:
            return await call()
        except (TimeoutError, ModelAPIError, UnexpectedModelBehavior, httpx.HTTPError) as error:
            return error

    hello: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart(content="Reply with one word: ready")])]
    text = await attempt(lambda: model.request(hello, _SETTINGS, ModelRequestParameters()))
    if isinstance(text, Exception):
        said, fix = _failure(text)
        if fix is not None and "cannot be reached" in fix:
            step("reachable", False, f"No answer from the model server: {said}", fix)
            skipped("auth", "text", "tool_call", "streamed_tool_call", "tool_result")
        elif fix is not None and "API key" in fix:
            step("reachable", True, "The model server answers.")
            step("auth", False, f"The API key was refused: {said}", fix)
            skipped("text", "tool_call", "streamed_tool_call", "tool_result")
        else:
            step("reachable", True, "The model server answers.")
            step("auth", True, "The API key was accepted (or none is needed).")
            step("text", False, f"A plain question failed: {said}", fix or f"Check the model name {WHERE}.")
            skipped("tool_call", "streamed_tool_call", "tool_result")
    else:
        step("reachable", True, "The model server answers.")
        step("auth", True, "The API key was accepted (or none is needed).")
        words = " ".join(p.content for p in text.parts if isinstance(p, TextPart)).strip()
        step("text", True, f"A plain question got an answer ({words[:60]!r}).")
        await _tool_steps(model, quirks, ask, step, skipped, attempt)

    context = await context_window(http, model.base_url, name.partition(":")[2] or name)
    if context is None:
        step("context_window", None, "The server does not report its context window.")
    else:
        step("context_window", True, f"The context window is {context:,} tokens.")
    ok = all(s.ok is not False for s in steps if s.name != "streamed_tool_call")
    return ModelCheck(
        model=name,
        base_url=model.base_url,
        ok=ok,
        streaming=quirks.stream_tool_calls,
        null_content_rejected=quirks.null_content_rejected,
        context_window=context,
        steps=steps,
        checked_at=datetime.now(UTC),
    )


async def _tool_steps(
    model: Model,
    quirks: ServerQuirks,
    ask: list[ModelMessage],
    step: Callable[..., None],
    skipped: Callable[..., None],
    attempt: Callable[[Callable[[], Awaitable[ModelResponse]]], Awaitable[ModelResponse | Exception]],
) -> None:
    called = await attempt(lambda: model.request(ask, _SETTINGS, _TOOLS))
    if isinstance(called, Exception) or not _calls(called):
        if isinstance(called, Exception):
            said, fix = _failure(called)
            if no_tool_support(called):
                detail = f"The model cannot call tools: {said}"
            else:
                detail = f"A tool call failed: {said}"
        else:
            detail, fix = "The model answered with text instead of calling the tool.", None
        step("tool_call", False, detail, fix or f"Choose a model with tool support {WHERE}.")
        skipped("streamed_tool_call", "tool_result")
        return
    step("tool_call", True, "A tool call works (non-streamed).")

    streamed = await attempt(lambda: _streamed(model, ask))
    if isinstance(streamed, ModelResponse) and _calls(streamed):
        quirks.stream_tool_calls = True
        step("streamed_tool_call", True, "A streamed tool call works: runs stream word by word.")
    else:
        quirks.stream_tool_calls = False
        why = redact_model_error(str(streamed)) if isinstance(streamed, Exception) else "the stream had no tool call"
        step(
            "streamed_tool_call",
            False,
            f"The server cannot stream tool calls ({why}). Runs use non-streamed requests with this model: "
            "each step arrives whole. Nothing to change.",
        )

    call = _calls(called)[0]
    follow_up: list[ModelMessage] = [
        *ask,
        ModelResponse(parts=[call]),
        ModelRequest(parts=[ToolReturnPart(tool_name=call.tool_name, content="saved", tool_call_id=call.tool_call_id)]),
    ]
    plain = ModelRequestParameters(function_tools=[_TOOL])
    result = await attempt(lambda: model.request(follow_up, _SETTINGS, plain))
    if isinstance(result, Exception) and null_content.rejects_null_content(result, follow_up):
        quirks.null_content_rejected = True
        result = await attempt(lambda: model.request(follow_up, _SETTINGS, plain))
        if not isinstance(result, Exception):
            step(
                "tool_result",
                True,
                "A follow-up with a tool result works once tool-call messages carry empty "
                "text instead of null, which runs now send. Nothing to change.",
            )
            return
    if isinstance(result, Exception):
        said, fix = _failure(result)
        step(
            "tool_result",
            False,
            f"A follow-up with a tool result failed: {said}",
            fix or f"Choose another model {WHERE}.",
        )
    else:
        step("tool_result", True, "A follow-up with a tool result works.")


async def context_window(http: httpx.AsyncClient, base_url: str | None, model_name: str) -> int | None:
    """The context window the server reports: llama.cpp `/props`, Ollama `/api/show`, vLLM `/v1/models`."""
    if not base_url:
        return None
    root = base_url.rstrip("/").removesuffix("/v1")
    probes: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", f"{root}/props", None),
        ("POST", f"{root}/api/show", {"model": model_name}),
        ("GET", f"{base_url.rstrip('/')}/models", None),
    ]
    for method, url, body in probes:
        try:
            response = await http.request(method, url, json=body)
            found = _context_from(response.json(), model_name) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            continue
        if found:
            return found
    return None


def _context_from(data: object, model_name: str) -> int | None:
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
        return int(settings["n_ctx"])
    info = data.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if key.endswith(".context_length") and isinstance(value, int):
                return value
    entries = data.get("data")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("id") == model_name and isinstance(entry.get("max_model_len"), int):
            return int(entry["max_model_len"])
    return None
