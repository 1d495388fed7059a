"""What the team reports while it works, before the run service gives each event its seq."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import JsonValue

from tandem.events import AgentName, ChangeType, DeltaType, Usage


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Thought:
    agent: AgentName
    content: str
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True, kw_only=True)
class Delta:
    agent: AgentName
    kind: DeltaType
    text: str
    tool_call_id: str | None = None
    """For a tool's output: the call it belongs to."""


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    agent: AgentName
    tool_name: str
    arguments: dict[str, JsonValue]
    tool_call_id: str
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True, kw_only=True)
class ToolResult:
    tool_name: str
    content: str
    tool_call_id: str
    failed: bool = False
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True, kw_only=True)
class FileChanged:
    path: str
    change_type: ChangeType
    change_id: int


@dataclass(frozen=True, kw_only=True)
class Finished:
    agent: AgentName
    output: str
    usage: dict[str, Usage]


TeamEvent = Thought | Delta | ToolCall | ToolResult | FileChanged | Finished


@dataclass(frozen=True, kw_only=True)
class Turn:
    """One earlier exchange of the chat session, for the Planner's context."""

    user: str
    assistant: str
