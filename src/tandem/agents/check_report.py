"""What the model check found, step by step: kept in the database and shown on the Models page.

Apart from the check itself (`agents.check`), which needs pydantic-ai, so that reading stored results
does not load it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from tandem.agents.adapt.quirks import ServerQuirks

StepName = Literal["reachable", "auth", "text", "tool_call", "streamed_tool_call", "tool_result", "context_window"]


class CheckStep(BaseModel):
    name: StepName
    ok: bool | None
    """None: not tried, because an earlier step failed."""
    detail: str
    fix: str | None = None


class ModelCheck(BaseModel):
    model: str
    base_url: str | None
    ok: bool
    """Runs can use this model: every step that matters passed (streaming is optional)."""
    streaming: bool
    """Runs stream this model's answers (its server can stream tool calls)."""
    null_content_rejected: bool
    context_window: int | None
    steps: list[CheckStep]
    checked_at: datetime

    def apply(self, quirks: ServerQuirks) -> None:
        quirks.stream_tool_calls = self.streaming
        quirks.null_content_rejected = self.null_content_rejected
