"""A pydantic-ai `FunctionModel` that plays a fixed script, for tests that drive the real team."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pydantic_ai.messages import ModelMessage, ModelResponse, ModelResponsePart, TextPart, ThinkingPart, ToolCallPart
from pydantic_ai.models.function import (
    AgentInfo,
    DeltaThinkingCalls,
    DeltaThinkingPart,
    DeltaToolCall,
    DeltaToolCalls,
    FunctionModel,
)
from pydantic_ai.usage import RequestUsage


@dataclass
class Playbook:
    """One agent's responses, in order; records what each request carried. A `None` step hangs
    until cancelled (and notes that it was)."""

    steps: list[list[ModelResponsePart] | None]
    seen: list[list[ModelMessage]] = field(default_factory=list)
    infos: list[AgentInfo] = field(default_factory=list)
    hung: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    model_name: str | None = None
    """The name its responses carry (genai-prices prices some, like `gpt-4o`); a made-up one if None."""

    def model(self) -> FunctionModel:
        return FunctionModel(self._respond, stream_function=self._stream, model_name=self.model_name)

    async def _next(self, messages: list[ModelMessage], info: AgentInfo) -> list[ModelResponsePart]:
        self.seen.append(messages)
        self.infos.append(info)
        parts = self.steps[len(self.seen) - 1]
        if parts is None:
            self.hung.set()
            try:
                await asyncio.Event().wait()
            finally:
                self.cancelled.set()
        assert parts is not None
        return parts

    async def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = len(self.seen) + 1
        parts = await self._next(messages, info)
        return ModelResponse(parts=parts, usage=RequestUsage(input_tokens=100 * step, output_tokens=step))

    async def _stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls | DeltaThinkingCalls]:
        for index, part in enumerate(await self._next(messages, info)):
            match part:
                case ThinkingPart():
                    for word in part.content.split(" "):
                        yield {100 + index: DeltaThinkingPart(content=word and f"{word} ")}
                case TextPart():
                    for word in part.content.split(" "):
                        yield word and f"{word} "
                case ToolCallPart():
                    yield {
                        index: DeltaToolCall(
                            name=part.tool_name, json_args=part.args_as_json_str(), tool_call_id=part.tool_call_id
                        )
                    }


def call(tool: str, call_id: str, **arguments: object) -> ToolCallPart:
    return ToolCallPart(tool, arguments, tool_call_id=call_id)
