"""The scripted model: NOT AI. A fixed, deterministic script for tests, benchmarks and offline demos.

It plays both roles through the real agent machinery (tools run, files are written, every event
type is produced), so everything around the model can be exercised without a model server.
Every answer it gives says that it is scripted.

Benchmarks steer it per run with a directive in the chat message, e.g.
`[scripted pace=0.02 repeat=10 deltas=50]` (seconds between chunks, Coder loops, extra timestamped
thinking deltas per step); unset knobs keep the server's settings.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import (
    AgentInfo,
    DeltaThinkingCalls,
    DeltaThinkingPart,
    DeltaToolCall,
    DeltaToolCalls,
    FunctionModel,
)

from tandem.settings import Settings

SCRIPTED_LABEL = "scripted model (not AI)"
NOTES_FILE = "TANDEM_NOTES.md"
_THINKING_INDEX = 100

Role = Literal["planner", "coder"]
_DIRECTIVE = re.compile(r"\[scripted((?: (?:pace|repeat|deltas)=[0-9.]+)+)\]")
# Bounds on what a directive may ask for: it is a benchmark knob, not a way to pin a server.
_MAX_PACE, _MAX_REPEAT, _MAX_DELTAS = 3600.0, 10_000, 1_000_000


@dataclass(frozen=True)
class _Knobs:
    pace: float
    repeat: int
    deltas: int


def _knobs(prompt: str, default: _Knobs) -> _Knobs:
    """The defaults, overridden by a `[scripted ...]` directive in the prompt if there is one."""
    match = _DIRECTIVE.search(prompt)
    if match is None:
        return default
    values = dict(pair.split("=", 1) for pair in match.group(1).split())
    return _Knobs(
        pace=min(_MAX_PACE, float(values.get("pace", default.pace))),
        repeat=max(1, min(_MAX_REPEAT, int(float(values.get("repeat", default.repeat))))),
        deltas=min(_MAX_DELTAS, int(float(values.get("deltas", default.deltas)))),
    )


@dataclass(frozen=True)
class _Step:
    thinking: str = ""
    text: str = ""
    tool: str | None = None
    arguments: str = "{}"


def _words(text: str) -> list[str]:
    """Split into word-sized chunks that join back to exactly `text`."""
    chunks = text.split(" ")
    return [chunk + " " for chunk in chunks[:-1]] + [chunks[-1]] if text else []


def _turn(messages: list[ModelMessage]) -> tuple[str, list[ToolReturnPart], int]:
    """The current turn's user prompt, the tool returns seen in it so far, and its step number."""
    start = 0
    for index, message in enumerate(messages):
        if isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts):
            start = index
    turn = messages[start:]
    prompt = (
        next((str(p.content) for p in turn[0].parts if isinstance(p, UserPromptPart)), "")
        if turn and isinstance(turn[0], ModelRequest)
        else ""
    )
    returns = [p for m in turn if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]
    steps = sum(isinstance(m, ModelResponse) for m in turn)
    return prompt, returns, steps


def _planner_step(prompt: str, returns: list[ToolReturnPart], step: int) -> _Step:
    request = prompt.split("\n\n<project-files>", 1)[0].strip()
    if step == 0:
        return _Step(
            thinking=f"The user asks: {request!r}. First I will look at the project's files.", tool="list_files"
        )
    if step == 1:
        listing = returns[-1].model_response_str() if returns else ""
        first = listing.split(" (", 1)[0] if "(" in listing else NOTES_FILE
        return _Step(
            thinking=f"Reading {first} to see how the project is organised.",
            tool="read_file",
            arguments=json.dumps({"path": first}),
        )
    if step == 2:
        plan = f"Record the request in {NOTES_FILE}, appending one line to it.\nRequest: {request}"
        return _Step(
            text=f"Plan: record the request in {NOTES_FILE}, then report back.",
            tool="hand_off_to_coder",
            arguments=json.dumps({"plan": plan}),
        )
    report = returns[-1].model_response_str() if returns else ""
    return _Step(text=f"[{SCRIPTED_LABEL}] Done. The Coder reported: {report}")


def _coder_step(prompt: str, returns: list[ToolReturnPart], step: int, repeat: int) -> _Step:
    request = prompt.rsplit("Request: ", 1)[-1].strip()
    if step == 0:
        return _Step(
            thinking=f"I will read {NOTES_FILE} first; it may not exist yet.",
            tool="read_file",
            arguments=json.dumps({"path": NOTES_FILE}),
        )
    if step == 1:
        existing = returns[-1].model_response_str() if returns and returns[-1].outcome == "success" else ""
        content = (existing or "# Notes\n\n") + f"- {request}\n"
        return _Step(
            thinking=f"Appending the request to {NOTES_FILE}.",
            tool="write_file",
            arguments=json.dumps({"path": NOTES_FILE, "content": content}),
        )
    if step < repeat + 1:
        return _Step(thinking=f"Checking the project again (pass {step} of {repeat}).", tool="list_files")
    # Quotes the request, as real models quote what they read: lets tests put attacker-chosen
    # Markdown into a final answer.
    return _Step(text=f"[{SCRIPTED_LABEL}] Appended the request to {NOTES_FILE}: {request}")


class ScriptedModel(FunctionModel):
    """A `FunctionModel` that follows the script above, `pace` seconds between chunks."""

    def __init__(self, role: Role, *, pace: float = 0.0, repeat: int = 1, deltas: int | None = None) -> None:
        self._role = role
        # `deltas` is a benchmark knob read from the settings here, so the composition root needs no change for it.
        self._defaults = _Knobs(pace=pace, repeat=repeat, deltas=_bench_deltas() if deltas is None else deltas)
        super().__init__(self._respond, stream_function=self._stream, model_name=SCRIPTED_LABEL)

    def _step(self, messages: list[ModelMessage]) -> tuple[_Step, int, _Knobs]:
        prompt, returns, step = _turn(messages)
        knobs = _knobs(prompt, self._defaults)
        if self._role == "planner":
            return _planner_step(prompt, returns, step), step, knobs
        return _coder_step(prompt, returns, step, knobs.repeat), step, knobs

    async def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        script, step, knobs = self._step(messages)
        await asyncio.sleep(knobs.pace)
        parts: list[ModelResponsePart] = []
        if script.thinking:
            parts.append(ThinkingPart(content=script.thinking))
        if script.text:
            parts.append(TextPart(content=script.text))
        if script.tool:
            parts.append(ToolCallPart(script.tool, script.arguments, tool_call_id=f"scripted-{self._role}-{step}"))
        return ModelResponse(parts=parts, model_name=SCRIPTED_LABEL)

    async def _stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls | DeltaThinkingCalls]:
        script, step, knobs = self._step(messages)
        pace = knobs.pace
        for word in _words(script.thinking):
            await asyncio.sleep(pace)
            yield {_THINKING_INDEX: DeltaThinkingPart(content=word)}
        for _ in range(knobs.deltas):
            await asyncio.sleep(pace)
            # The emit time travels in the text itself: the wire format stays exactly the same.
            yield {_THINKING_INDEX: DeltaThinkingPart(content=f"{time.monotonic():.6f} ")}
        for word in _words(script.text):
            await asyncio.sleep(pace)
            yield word
        if script.tool:
            await asyncio.sleep(pace)
            call_id = f"scripted-{self._role}-{step}"
            yield {0: DeltaToolCall(name=script.tool, json_args=script.arguments, tool_call_id=call_id)}


@functools.cache
def _bench_deltas() -> int:
    return Settings().scripted_deltas
