"""`AdaptedModel`: every model request of a run, with the quirk adaptations and visible retries."""

from __future__ import annotations

from pydantic_ai.exceptions import ModelAPIError, UnexpectedModelBehavior
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from tandem.agents.adapt import null_content, streaming
from tandem.agents.adapt.chat_model import CompatChatModel
from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.retries import Notify, RetryPolicy, retrying
from tandem.agents.tap import OnStreamEvent, StreamTap


class AdaptedModel(WrapperModel):
    """Streams through `on_stream_event` (None: never streams) unless the server cannot stream tool calls,
    adapts to the quirks in `quirks`, and retries passing failures under `policy`, telling `notify`."""

    def __init__(
        self,
        wrapped: Model,
        *,
        quirks: ServerQuirks,
        on_stream_event: OnStreamEvent | None,
        notify: Notify,
        policy: RetryPolicy,
    ) -> None:
        super().__init__(wrapped)
        self._quirks = quirks
        self._on_stream_event = on_stream_event
        self._notify = notify
        self._policy = policy

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        async for attempt in retrying(self._policy, self._notify):
            with attempt:
                return await self._adapted(messages, model_settings, model_request_parameters)
        raise AssertionError("tenacity returns or raises")  # pragma: no cover

    async def _adapted(
        self, messages: list[ModelMessage], settings: ModelSettings | None, parameters: ModelRequestParameters
    ) -> ModelResponse:
        try:
            return await self._streamed_or_not(messages, settings, parameters)
        except ModelAPIError as error:
            if (
                not isinstance(self.wrapped, CompatChatModel)
                or self._quirks.null_content_rejected
                or not null_content.rejects_null_content(error, messages)
            ):
                raise
            self._quirks.null_content_rejected = True
            await self._notify(null_content.NOTE)
            return await self._streamed_or_not(messages, settings, parameters)

    async def _streamed_or_not(
        self, messages: list[ModelMessage], settings: ModelSettings | None, parameters: ModelRequestParameters
    ) -> ModelResponse:
        on_event = self._on_stream_event
        if on_event is None or (parameters.function_tools and not self._quirks.stream_tool_calls):
            return await self.wrapped.request(messages, settings, parameters)
        try:
            return await StreamTap(self.wrapped, on_event).request(messages, settings, parameters)
        except (ModelAPIError, UnexpectedModelBehavior) as error:
            if not streaming.cannot_stream_tools(error, parameters):
                raise
            self._quirks.stream_tool_calls = False
            await self._notify(streaming.NOTE)
            return await self.wrapped.request(messages, settings, parameters)
