"""Turning `provider:model` strings into pydantic-ai models.

pydantic-ai and the provider SDKs are imported when a model is built, not with this module: they cost
~1.5 s that the server's start-up and its health check do not need (`bench/startup.py`)."""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tandem.agents.adapt.quirks import ServerQuirks
from tandem.errors import ModelNotConfigured
from tandem.redaction import REDACTED, redact_secrets

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from pydantic_ai.models import Model
    from pydantic_ai.providers import Provider

SCRIPTED = "scripted"
MODELS_PAGE = "/#/settings/models"
"""The Models page's address on this server (the UI routes by the URL's fragment)."""
NOT_CONFIGURED_HINT = (
    f"No model is configured: choose one on the Models page ({MODELS_PAGE}), or set TANDEM_MODEL "
    "(README, Models). TANDEM_MODEL=scripted runs the offline demo script (not AI)."
)

MAX_ERROR_CHARS = 2_000
_KEYS_IN_USE: set[str] = set()
"""API keys handed to model clients that are not in the environment (saved on the Models page): redacted too."""


_LOADING = threading.Lock()


def load_agents() -> None:
    """Imports what models and teams are built from: pydantic-ai and the provider SDKs. A warm-up thread
    calls it at start-up, and so does every builder before its own imports: one thread imports these
    modules at a time, because two threads importing them in different orders can deadlock on CPython's
    per-module import locks or see a half-initialised module."""
    with _LOADING:
        for module in ("tandem.agents.team", "tandem.agents.check", "tandem.agents.scripted"):
            importlib.import_module(module)


async def agents_loaded() -> None:
    """`load_agents` off the event loop: the first run or check waits for it (up to the import's ~1.5 s,
    or the warm-up's rest) while every other stream and heartbeat of the server goes on."""
    await asyncio.to_thread(load_agents)


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where a model's server is and the key it wants; None: the provider's default (its environment variable,
    or its public address)."""

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)


def redact_model_error(message: str) -> str:
    """A model error as it may be streamed, stored and logged: the provider's error body, which can
    echo the request's credentials, without the configured API keys (every `*_API_KEY` variable the
    model clients read) or anything shaped like a key, cut to `MAX_ERROR_CHARS`."""
    keys = [value for name, value in os.environ.items() if name.endswith("_API_KEY")]
    for key in [*keys, *_KEYS_IN_USE]:
        if len(key) >= 8:  # shorter values would redact ordinary words
            message = message.replace(key, REDACTED)
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
    endpoint: Endpoint,
) -> Model:
    if not name:
        raise ModelNotConfigured(NOT_CONFIGURED_HINT)
    load_agents()
    if name == SCRIPTED:
        from tandem.agents.scripted import ScriptedModel

        return ScriptedModel(role, pace=scripted_pace, repeat=scripted_repeat)
    provider, _, model_name = name.partition(":")
    if not model_name:
        raise ModelNotConfigured(f"model {name!r} is not a provider:model string. {NOT_CONFIGURED_HINT}")
    if endpoint.api_key is not None:
        _KEYS_IN_USE.add(endpoint.api_key)
    try:
        if provider in ("openai", "ollama"):
            from tandem.agents.adapt.chat_model import CompatChatModel

            # Chat Completions, not the Responses API: it is what every OpenAI-compatible server speaks, Ollama
            # included, so both take the adapted path (pydantic-ai's own OllamaModel would skip the adaptations).
            return CompatChatModel(model_name, provider=_openai_provider(provider, endpoint), quirks=quirks)
        if provider == "anthropic":
            from pydantic_ai.models.anthropic import AnthropicModel
            from pydantic_ai.providers.anthropic import AnthropicProvider

            return AnthropicModel(
                model_name, provider=AnthropicProvider(api_key=endpoint.api_key, base_url=endpoint.base_url)
            )
        from pydantic_ai.models import infer_model

        return infer_model(name)
    except Exception as error:  # provider constructors raise assorted errors for missing keys/URLs
        raise ModelNotConfigured(redact_model_error(f"model {name!r} cannot be used: {error}")) from None


def _openai_provider(provider: str, endpoint: Endpoint) -> Provider[AsyncOpenAI]:
    from tandem.agents.adapt.chunks import ChunkBuildingOllamaProvider, ChunkBuildingOpenAIProvider

    if provider == "ollama":
        return ChunkBuildingOllamaProvider(base_url=endpoint.base_url, api_key=endpoint.api_key)
    return ChunkBuildingOpenAIProvider(base_url=endpoint.base_url, api_key=endpoint.api_key)
