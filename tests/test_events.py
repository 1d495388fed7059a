from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import TypeAdapter

from tandem.events import AgentInteractionData, ErrorData, RunEvent, envelope, sse_frame


def test_frames_are_lf_only_with_id_first() -> None:
    data = AgentInteractionData(
        agent_name="Coder",
        message_type="thought",
        content="line one\nline two\r\n",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        id="r:3",
    )
    text = envelope("r", 3, data).model_dump_json()
    frame = sse_frame(3, text)
    assert frame.startswith(b"id: 3\ndata: {")
    assert frame.endswith(b"}\n\n")
    assert b"\r" not in frame
    assert frame.count(b"\n") == 3, "newlines inside content are escaped, never split the frame"
    payload = json.loads(frame.split(b"data: ", 1)[1])
    assert payload["type"] == "agent_interaction"
    assert payload["seq"] == 3
    assert payload["data"]["content"] == "line one\nline two\r\n"


def test_union_round_trips_by_type() -> None:
    text = envelope("r", 9, ErrorData(message="stopped", code="cancelled")).model_dump_json()
    event = TypeAdapter(RunEvent).validate_json(text)
    assert event.type == "error"
    assert event.data == ErrorData(message="stopped", code="cancelled")
