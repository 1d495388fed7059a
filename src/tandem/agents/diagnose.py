"""Model errors in plain words, each naming what to change; shared by runs and the model check."""

from __future__ import annotations

from pydantic_ai.exceptions import (
    ModelAuthenticationError,
    ModelConnectionError,
    ModelHTTPError,
    ModelNotFoundError,
)

WHERE = "on the Models page or in the environment (TANDEM_MODEL, OPENAI_BASE_URL, OPENAI_API_KEY)"
# What servers say when the model (or the server as started) cannot call tools: Ollama for a model whose
# template has none, llama-server started without --jinja, vLLM without --enable-auto-tool-choice.
_NO_TOOLS = ("does not support tools", "tools param requires --jinja", "enable-auto-tool-choice")


def no_tool_support(error: BaseException) -> bool:
    said = f"{error} {getattr(error, 'body', '')}".lower()
    return isinstance(error, ModelHTTPError) and any(marker.lower() in said for marker in _NO_TOOLS)


def explain(error: BaseException) -> str | None:
    """What went wrong and how to fix it, for the errors a user can fix; None for the rest."""
    if no_tool_support(error):
        return (
            "The model server says this model cannot call tools, which Tandem's agents need. Choose a model with "
            f"tool support {WHERE} (llama-server: start it with --jinja; vLLM: with --enable-auto-tool-choice)."
        )
    if isinstance(error, ModelAuthenticationError) or (isinstance(error, ModelHTTPError) and error.status_code == 401):
        return f"The model server rejected the API key. Set the right key {WHERE}."
    if isinstance(error, ModelNotFoundError):
        return (
            "The model server does not know this model, or the base URL is wrong (it usually ends in /v1). "
            f"Check the model name and base URL {WHERE}."
        )
    if isinstance(error, ModelConnectionError) and not error.in_stream and error.phase in ("connect", None):
        return f"The model server cannot be reached: is it running, and is the base URL right? Check it {WHERE}."
    return None
