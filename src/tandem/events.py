"""The wire contract: every event a run streams, as one tagged union, and its SSE framing.

Seed fields come first in each payload; Tandem's additions follow. Clients must ignore event
types they do not know, so new types may be added here; existing fields never change.

These models are the contract's one source: the OpenAPI document publishes them (`RunEvent`) and
the frontend's types are generated from it (`frontend/src/api/schema.gen.ts`; `make test` fails
while that file is stale).

Adding an event type, the recipe:
1. Here: its `...Data` payload and `...Event` envelope, in `RunEvent`, `EventData` and `_ENVELOPES`
   (and `TERMINAL_TYPES` if it ends a run). A field added to an existing payload needs a default.
2. Its emitter: what the team reports (`tandem.agents.events`), mapped to the payload by
   `tandem.runs.wire.to_wire` (the recorder gives it its seq, and an interaction its id).
3. Its handler: `npm run --prefix frontend api:types`, then the compiler points at the rest — the
   `KNOWN_TYPES` list and the stream client's dispatch table (`frontend/src/api/types.ts`,
   `chat.ts`), and the reducer's case (`streamReducer.ts`) if the page shows it.
4. Its test: the event on a real stream (tests/api) and in the reducer (Vitest); `docs/api.md`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

AgentName = Literal["Planner", "Coder", "System"]
InteractionType = Literal["thought", "tool_call", "tool_response"]
DeltaType = Literal["thought", "message", "tool_output"]
ChangeType = Literal["created", "modified", "deleted"]
ErrorCode = Literal[
    "model_not_configured", "model_error", "cancelled", "interrupted", "limit_exceeded", "busy", "internal"
]


class _Payload(BaseModel):
    # A field with a default is still always sent: the schema says so, and the generated
    # frontend types need not treat it as optional.
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


class Usage(_Payload):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    cost_usd: float | None = Field(
        default=None,
        description="Estimated cost in US dollars from the genai-prices table; null while any response's price "
        "is unknown (a local model, an unlisted one).",
    )


class ChatMessage(_Payload):
    model_config = ConfigDict(from_attributes=True)

    id: int
    session_id: int
    role: Literal["user", "assistant"]
    content: str
    agent_name: str | None
    created_at: datetime


class CodeChange(_Payload):
    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: str | None
    project_id: int
    path: str
    change_type: ChangeType
    diff: str
    created_at: datetime
    reverted: bool


class StartData(_Payload):
    session_id: int
    user_message_id: int
    run_id: str
    assistant_message_id: int


class AgentInteractionData(_Payload):
    agent_name: AgentName
    message_type: InteractionType
    content: str
    tool_name: str | None = None
    tool_arguments: dict[str, JsonValue] | None = None
    timestamp: datetime
    # Defaults to unstamped: the recorder names each interaction after the seq it gives it.
    id: str = Field(default="", description="Unique id of this interaction: `<run_id>:<seq>`.")
    tool_call_id: str | None = Field(default=None, description="Pairs a `tool_call` with its `tool_response`.")
    failed: bool = Field(
        default=False,
        description="A `tool_response` whose tool failed (a refused path, a missing file): the agent reads the "
        "error and adapts, the run goes on.",
    )


class AgentDeltaData(_Payload):
    agent_name: AgentName
    message_type: DeltaType
    delta: str
    tool_call_id: str | None = Field(
        default=None, description="For `tool_output`: the `tool_call` whose output this is, while it runs."
    )


class FileChangedData(_Payload):
    path: str
    change_type: ChangeType
    change_id: int


class CompleteData(_Payload):
    session_id: int
    message: ChatMessage
    code_changes: list[CodeChange]
    usage: dict[str, Usage] = Field(default_factory=dict, description="Tokens and calls per agent.")


class ErrorData(_Payload):
    message: str
    code: ErrorCode


class _Envelope(_Payload):
    run_id: str
    seq: int = Field(ge=1, description="Per-run, starts at 1, strictly increasing, no gaps.")


class StartEvent(_Envelope):
    type: Literal["start"] = "start"
    data: StartData


class AgentInteractionEvent(_Envelope):
    type: Literal["agent_interaction"] = "agent_interaction"
    data: AgentInteractionData


class AgentDeltaEvent(_Envelope):
    type: Literal["agent_delta"] = "agent_delta"
    data: AgentDeltaData


class FileChangedEvent(_Envelope):
    type: Literal["file_changed"] = "file_changed"
    data: FileChangedData


class CompleteEvent(_Envelope):
    type: Literal["complete"] = "complete"
    data: CompleteData


class ErrorEvent(_Envelope):
    type: Literal["error"] = "error"
    data: ErrorData


RunEvent = Annotated[
    StartEvent | AgentInteractionEvent | AgentDeltaEvent | FileChangedEvent | CompleteEvent | ErrorEvent,
    Field(discriminator="type"),
]
EventData = StartData | AgentInteractionData | AgentDeltaData | FileChangedData | CompleteData | ErrorData
TERMINAL_TYPES = frozenset({"complete", "error"})

_ENVELOPES: dict[type[EventData], type[_Envelope]] = {
    StartData: StartEvent,
    AgentInteractionData: AgentInteractionEvent,
    AgentDeltaData: AgentDeltaEvent,
    FileChangedData: FileChangedEvent,
    CompleteData: CompleteEvent,
    ErrorData: ErrorEvent,
}


EVENT_TYPES: dict[type[EventData], str] = {
    data_type: envelope_type.model_fields["type"].default for data_type, envelope_type in _ENVELOPES.items()
}


def envelope(run_id: str, seq: int, data: EventData) -> _Envelope:
    return _ENVELOPES[type(data)](run_id=run_id, seq=seq, data=data)


def sse_frame(seq: int, json_text: str) -> bytes:
    """One SSE event: LF line endings only, `id` first so `Last-Event-ID` resumes exactly here."""
    return b"id: %d\ndata: %s\n\n" % (seq, json_text.encode())


PING_FRAME = b": ping\n\n"


# A project's stream (`GET /projects/{id}/events`): its files changed, whoever changed them. Its own
# union, not a run's: these events have no run, and a client follows one or the other.


class ProjectStateData(_Payload):
    project_id: int
    updated_at: datetime | None = Field(
        description="When the project's files last changed (any change moves it; compare for equality, not "
        "order: processes' clocks differ); null once the project is deleted."
    )


class ProjectEvent(_Payload):
    type: Literal["watching", "files_changed", "project_deleted"] = Field(
        description="`watching` first (the state the stream compares with: a client that reconnects refetches "
        "if it differs from what it had), then `files_changed` after each change, or `project_deleted` last."
    )
    seq: int = Field(ge=1, description="Per stream, starts at 1.")
    data: ProjectStateData


# A user's command in the Terminal (`POST /projects/{id}/commands`).


class CommandOutputData(_Payload):
    text: str = Field(description="Output as printed, stdout and stderr interleaved.")


class CommandChange(_Payload):
    path: str
    change_type: ChangeType


class CommandEndData(_Payload):
    exit_code: int | None = Field(description="Null when the sandbox stopped the command (`stopped` says why).")
    stopped: str | None = Field(description="Which limit ended the command, naming its setting.")
    summary: str = Field(description="The exit code or why it was stopped, and a likely cause of a failure.")
    changes: list[CommandChange] = Field(description="Files the command created, changed or deleted, now saved.")
    refused: list[str] = Field(description="`path: why`, for what it left that the project cannot take.")


class CommandOutputEvent(_Payload):
    type: Literal["output"] = "output"
    seq: int = Field(ge=1)
    data: CommandOutputData


class CommandEndEvent(_Payload):
    type: Literal["end"] = "end"
    seq: int = Field(ge=1)
    data: CommandEndData


CommandEvent = Annotated[CommandOutputEvent | CommandEndEvent, Field(discriminator="type")]
