"""A model wrapper that streams each response to a callback while the agent sees one whole response.

Why not `node.stream()`: pydantic-ai's agent-level stream takes two anyio locks and opens a cancel
scope for every chunk, four event-loop round trips per token (~110 µs of CPU per chunk here,
measured in bench/README.md). Reading the model's own `StreamedResponse` costs a third of that,
and the agent graph then handles the finished response exactly as in a non-streamed run: same
usage accounting and limits, same tool calls, same cancellation (cancelling the request closes
the stream and its HTTP response).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic_ai.messages import ModelMessage, ModelResponse, ModelResponseStreamEvent
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

OnStreamEvent = Callable[[ModelResponseStreamEvent], Awaitable[None]]


class StreamTap(WrapperModel):
    """Answers every request from the wrapped model's stream, handing each event to `on_event`."""

    def __init__(self, wrapped: Model, on_event: OnStreamEvent) -> None:
        super().__init__(wrapped)
        self._on_event = on_event

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        async with self.wrapped.request_stream(messages, model_settings, model_request_parameters) as stream:
            async for event in stream:
                await self._on_event(event)
        return stream.get()
