"""The OpenAI Chat Completions model with the quirk adaptations that must happen inside it."""

from __future__ import annotations

from openai import AsyncOpenAI
from openai.types import chat
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.models.openai._chat_completions import LenientChatCompletion
from pydantic_ai.providers import Provider

from tandem.agents.adapt.null_content import with_empty_content
from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.adapt.tool_call_ids import fill_tool_call_ids


class CompatChatModel(OpenAIChatModel):
    """Through the hooks pydantic-ai documents for subclasses: `_validate_completion` and the assistant message
    mapping (`_MapModelResponseContext._into_message_param`)."""

    def __init__(self, model_name: str, *, provider: Provider[AsyncOpenAI], quirks: ServerQuirks) -> None:
        super().__init__(model_name, provider=provider)
        self.quirks = quirks

    class _MapModelResponseContext(OpenAIChatModel._MapModelResponseContext):
        def _into_message_param(self) -> chat.ChatCompletionAssistantMessageParam | None:
            message = super()._into_message_param()
            model = self._model
            if message is not None and isinstance(model, CompatChatModel) and model.quirks.null_content_rejected:
                return with_empty_content(message)
            return message

    def _validate_completion(self, response: chat.ChatCompletion) -> LenientChatCompletion:
        return super()._validate_completion(fill_tool_call_ids(response))
