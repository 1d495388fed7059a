"""Turning `provider:model` strings into pydantic-ai models."""

from __future__ import annotations

import os
from typing import Literal

from pydantic_ai.models import Model, infer_model

from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.scripted import ScriptedModel
from tandem.errors import ModelNotConfigured
from tandem.redaction import REDACTED, redact_secrets

SCRIPTED = "scripted"
NOT_CONFIGURED_HINT = (
    "No model is configured. Set TANDEM_MODEL to a provider:model string, for example "
    "TANDEM_MODEL=openai:gpt-4o with OPENAI_API_KEY (and OPENAI_BASE_URL for any OpenAI-compatible "
    "server such as vLLM, llama.cpp or OpenRouter), TANDEM_MODEL=anthropic:claude-sonnet-4-5 with "
    "ANTHROPIC_API_KEY, or TANDEM_MODEL=ollama:qwen3 with OLLAMA_BASE_URL. TANDEM_PLANNER_MODEL and "
    "TANDEM_CODER_MODEL override it per agent. TANDEM_MODEL=scripted runs the offline demo script (not AI)."
)

MAX_ERROR_CHARS = 2_000


def redact_model_error(message: str) -> str:
    """A model error as it may be streamed, stored and logged: the provider's error body, which can
    echo the request's credentials, without the configured API keys (every `*_API_KEY` variable the
    model clients read) or anything shaped like a key, cut to `MAX_ERROR_CHARS`."""
    for name, value in os.environ.items():
        if name.endswith("_API_KEY") and len(value) >= 8:  # shorter values would redact ordinary words
            message = message.replace(value, REDACTED)
    message = redact_secrets(message)
    if len(message) > MAX_ERROR_CHARS:
        message = f"{message[:MAX_ERROR_CHARS]}… [{len(message) - MAX_ERROR_CHARS} more characters not shown]"
    return message


def resolve_model(
    name: str | None,
    *,
    role: Literal["planner", "coder"],
    scripted_pace: float,
    scripted_repeat: int,
    quirks: ServerQuirks,
) -> Model:
    if not name:
        raise ModelNotConfigured(NOT_CONFIGURED_HINT)
    if name == SCRIPTED:
        return ScriptedModel(role, pace=scripted_pace, repeat=scripted_repeat)
    provider, _, model_name = name.partition(":")
    if not model_name:
        raise ModelNotConfigured(f"model {name!r} is not a provider:model string. {NOT_CONFIGURED_HINT}")
    try:
        if provider == "openai":
            # Imported here: the OpenAI SDK costs ~1 s of start-up that scripted or other setups skip.
            from pydantic_ai.providers.openai import OpenAIProvider

            from tandem.agents.adapt.chat_model import CompatChatModel

            # Chat Completions, not the Responses API: it is what every OpenAI-compatible server speaks.
            return CompatChatModel(model_name, provider=OpenAIProvider(), quirks=quirks)
        return infer_model(name)
    except Exception as error:  # provider constructors raise assorted errors for missing keys/URLs
        raise ModelNotConfigured(redact_model_error(f"model {name!r} cannot be used: {error}")) from None
