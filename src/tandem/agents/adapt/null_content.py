"""Servers that reject `content: null` on an assistant message with tool calls.

The OpenAI API sends and accepts `null` there, and so does pydantic-ai. llama-cpp-python's ChatML templates
concatenate `message['content']` into the prompt, so the request after a tool call fails with a 500
("can only concatenate str (not "NoneType") to str"); an empty string is accepted by every server tried.
"""

from __future__ import annotations

from openai.types.chat import ChatCompletionAssistantMessageParam
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart

NOTE = (
    "The model server rejected a tool-call message without text, so such messages are now sent with empty text. "
    "Nothing to change: the run goes on."
)


def sends_null_content(messages: list[ModelMessage]) -> bool:
    """Whether the request carries an assistant message with tool calls and no text (sent as `content: null`)."""
    return any(
        isinstance(message, ModelResponse)
        and any(isinstance(part, ToolCallPart) for part in message.parts)
        and not any(isinstance(part, TextPart) for part in message.parts)
        for message in messages
    )


def rejects_null_content(error: Exception, messages: list[ModelMessage]) -> bool:
    """Whether `error` may be the server refusing `content: null` (it does not say so in any one way)."""
    return isinstance(error, ModelHTTPError) and error.status_code in (400, 422, 500) and sends_null_content(messages)


def with_empty_content(message: ChatCompletionAssistantMessageParam) -> ChatCompletionAssistantMessageParam:
    if message.get("content") is None:
        return {**message, "content": ""}
    return message
