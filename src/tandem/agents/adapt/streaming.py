"""Servers that cannot stream tool calls.

- llama-cpp-python (`chatml-function-calling`) raises "Automatic streaming tool choice is not supported" inside
  its SSE generator: the answer is a 200 stream without a single chunk, which pydantic-ai reports as
  "Streamed response ended without content or tool calls".
- llama-server (before tool streaming landed) answers 500 "Cannot use tools with stream".

Either way the same request, sent non-streamed, works: the agent then gets the answer whole.
"""

from __future__ import annotations

from pydantic_ai.exceptions import ModelHTTPError, UnexpectedModelBehavior
from pydantic_ai.models import ModelRequestParameters

NOTE = (
    "The model server cannot stream tool calls, so this and later requests to it are sent without streaming "
    "(steps arrive whole instead of word by word). Nothing to change: the run goes on."
)
_EMPTY_STREAM = "Streamed response ended without content or tool calls"


def cannot_stream_tools(error: Exception, parameters: ModelRequestParameters) -> bool:
    """Whether `error`, raised by a streamed request, shows that the server cannot stream tool calls."""
    if not parameters.function_tools:
        return False
    if isinstance(error, UnexpectedModelBehavior):
        return _EMPTY_STREAM in error.message
    if isinstance(error, ModelHTTPError) and error.status_code in (400, 422, 500, 501):
        said = f"{error.message} {error.body}".lower()
        return "stream" in said and "tool" in said
    return False
