"""Event mapping: what the team reports, as the wire's event payloads. A pure function: the seq
and the interaction ids (named after it) are the recorder's to give."""

from __future__ import annotations

from tandem.agents.events import Delta, FileChanged, Thought, ToolCall, ToolResult
from tandem.events import AgentDeltaData, AgentInteractionData, EventData, FileChangedData

StreamedEvent = Thought | Delta | ToolCall | ToolResult | FileChanged
"""A team event that is streamed as it happens (`Finished` ends the run instead)."""


def to_wire(event: StreamedEvent) -> EventData:
    match event:
        case Delta():
            return AgentDeltaData(
                agent_name=event.agent, message_type=event.kind, delta=event.text, tool_call_id=event.tool_call_id
            )
        case Thought():
            return AgentInteractionData(
                agent_name=event.agent, message_type="thought", content=event.content, timestamp=event.at
            )
        case ToolCall():
            return AgentInteractionData(
                agent_name=event.agent,
                message_type="tool_call",
                content=f"Calling: {event.tool_name}",
                tool_name=event.tool_name,
                tool_arguments=event.arguments,
                timestamp=event.at,
                tool_call_id=event.tool_call_id,
            )
        case ToolResult():
            return AgentInteractionData(
                agent_name="System",
                message_type="tool_response",
                content=event.content,
                tool_name=event.tool_name,
                timestamp=event.at,
                tool_call_id=event.tool_call_id,
                failed=event.failed,
            )
        case FileChanged():
            return FileChangedData(path=event.path, change_type=event.change_type, change_id=event.change_id)
