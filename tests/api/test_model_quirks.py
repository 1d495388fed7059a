"""A two-agent run against an OpenAI-compatible server in each of its real servers' quirk modes
(`tests/fake_openai.py`), streamed and not, with nothing set by the user: it completes, or ends with an
error that says what to change. The adaptations are `tandem.agents.adapt`.

What a server's quirk teaches Tandem is kept by the server process, so each test starts its own; the
adaptations do not touch storage or the event log, so SQLite alone is used.
"""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Tandem
from tests.fake_models import Quirk, Script
from tests.support import Event, Server, run_chat

# Each test starts its own server, which a loaded machine may take a minute to start.
pytestmark = pytest.mark.timeout(360)


async def run(server: Server) -> list[Event]:
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=120) as client:
        _, events = await run_chat(client)
    return events


def system_thoughts(events: list[Event]) -> list[str]:
    return [
        e.data["content"]
        for e in events
        if e.type == "agent_interaction" and e.data["agent_name"] == "System" and e.data["message_type"] == "thought"
    ]


def completed(events: list[Event]) -> None:
    assert events[-1].type == "complete", events[-1].data
    assert events[-1].data["message"]["content"] == "All done. Coder said: I wrote the files."
    assert [c["path"] for c in events[-1].data["code_changes"]] == ["hello.txt"]


@pytest.mark.parametrize("quirk", ["stream_tools_empty", "stream_tools_500"])
async def test_a_server_that_cannot_stream_tool_calls_gets_them_non_streamed(
    tandem: Tandem, script: Script, quirk: Quirk
) -> None:
    script.quirks = {quirk}
    events = await run(tandem())
    completed(events)
    [note] = system_thoughts(events)
    assert "cannot stream tool calls" in note
    first, retried, *later = script.requests
    assert first["stream"]
    assert not retried["stream"], "the failed streamed request is sent again, non-streamed"
    assert first["messages"] == retried["messages"]
    assert later
    assert not any(r.get("stream") for r in later), "later requests with tools are not streamed"


@pytest.mark.parametrize("quirk", ["stream_tools_empty", "stream_tools_500"])
async def test_non_streamed_runs_never_meet_the_streaming_quirk(tandem: Tandem, script: Script, quirk: Quirk) -> None:
    script.quirks = {quirk}
    events = await run(tandem(TANDEM_MODEL_STREAMING="false"))
    completed(events)
    assert system_thoughts(events) == []


async def test_tool_call_messages_get_empty_content_where_null_is_rejected(
    tandem: Tandem, script: Script, streaming: str
) -> None:
    script.quirks = {"null_content_500"}
    events = await run(tandem(TANDEM_MODEL_STREAMING=streaming))
    completed(events)
    [note] = system_thoughts(events)
    assert "empty text" in note
    rejected = [
        r
        for r in script.requests
        if any(m["role"] == "assistant" and m.get("tool_calls") and m.get("content") is None for m in r["messages"])
    ]
    assert len(rejected) == 1, "once learned, null content is never sent again"
    assert any(
        m["role"] == "assistant" and m.get("tool_calls") and m["content"] == ""
        for r in script.requests
        for m in r["messages"]
    )


async def test_tool_calls_without_ids_get_ids(tandem: Tandem, script: Script, streaming: str) -> None:
    script.quirks = {"no_tool_call_ids"}
    events = await run(tandem(TANDEM_MODEL_STREAMING=streaming))
    completed(events)
    calls = [e.data for e in events if e.type == "agent_interaction" and e.data["message_type"] == "tool_call"]
    responses = [e.data for e in events if e.type == "agent_interaction" and e.data["message_type"] == "tool_response"]
    ids = [c["tool_call_id"] for c in calls]
    assert all(ids)
    assert len(set(ids)) == len(ids), "every call has its own id"
    assert sorted(ids) == sorted(r["tool_call_id"] for r in responses), "and its response carries it"


async def test_a_model_without_tool_support_ends_the_run_with_what_to_change(
    tandem: Tandem, script: Script, streaming: str
) -> None:
    script.quirks = {"no_tools"}
    events = await run(tandem(TANDEM_MODEL_STREAMING=streaming))
    assert [e.type for e in events] == ["start", "error"]
    assert events[-1].data["code"] == "model_error"
    message = events[-1].data["message"]
    assert message.startswith("The model server says this model cannot call tools")
    assert "Choose a model with tool support" in message
    assert "does not support tools" in message, "the server's own words follow"
    assert len(script.requests) == 1, "not retried: it cannot get better"


async def test_a_wrong_api_key_ends_the_run_with_what_to_change(tandem: Tandem, script: Script) -> None:
    script.api_key = "sk-the-right-one"
    events = await run(tandem())
    assert events[-1].data["code"] == "model_error"
    assert events[-1].data["message"].startswith("The model server rejected the API key. Set the right key")
    assert len(script.requests) == 1
