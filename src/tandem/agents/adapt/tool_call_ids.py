"""Servers that send tool calls without an `id` (or with an empty one, as llama-server did:
ggml-org/llama.cpp#12279).

pydantic-ai validates a whole (non-streamed) completion against OpenAI's schema, where `id` is required, so
such an answer fails the run ("Invalid response from openai chat completions endpoint"). A fresh id per
call is all the agent needs: it pairs the call with its result.
"""

from __future__ import annotations

import uuid

from openai.types.chat import ChatCompletion


def fill_tool_call_ids(completion: ChatCompletion) -> ChatCompletion:
    """`completion`, each of its tool calls given an id if it came without one."""
    for choice in completion.choices:
        for call in choice.message.tool_calls or ():
            if not getattr(call, "id", None):
                call.id = f"call_{uuid.uuid4().hex[:24]}"
    return completion
