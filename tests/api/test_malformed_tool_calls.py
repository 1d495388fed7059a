"""A model's malformed tool calls (bad JSON, an unknown tool, invalid arguments) get a retry prompt, not a crash."""

from __future__ import annotations

import httpx
import pytest

from tests.fake_models import Script
from tests.fake_providers import PROVIDERS
from tests.support import Event, run_chat

pytestmark = pytest.mark.parametrize("served", list(PROVIDERS), indirect=True, scope="module")


def coder_calls(events: list[Event]) -> list[dict[str, object]]:
    return [
        e.data
        for e in events
        if e.type == "agent_interaction" and e.data["message_type"] == "tool_call" and e.data["agent_name"] == "Coder"
    ]


def responses(events: list[Event]) -> dict[str, str]:
    return {
        e.data["tool_call_id"]: e.data["content"]
        for e in events
        if e.type == "agent_interaction" and e.data["message_type"] == "tool_response"
    }


async def test_malformed_tool_calls_get_a_retry_prompt_and_the_run_goes_on(
    fake_api: httpx.AsyncClient, fake_script: Script
) -> None:
    fake_script.coder_raw_calls = [
        ("write_file", '{"path": "hello.txt", "content": '),  # JSON cut short
        ("delete_everything", "{}"),  # no such tool
        ("read_file", '{"paht": "README.md"}'),  # fails validation
    ]
    project_id, events = await run_chat(fake_api)

    assert events[-1].type == "complete", events[-1]
    calls = coder_calls(events)
    assert [(c["tool_name"], c["tool_arguments"]) for c in calls] == [
        ("write_file", {"INVALID_JSON": '{"path": "hello.txt", "content": '}),
        ("delete_everything", {}),
        ("read_file", {"paht": "README.md"}),
        ("write_file", {"path": "hello.txt", "content": "hello\n"}),
    ]
    streamed = [responses(events)[str(c["tool_call_id"])] for c in calls]
    [model_got] = [results for results in fake_script.seen if len(results) == len(calls)]  # the Coder's last request
    for results in (streamed, model_got):
        assert "Invalid JSON" in results[0]
        assert "Unknown tool name: 'delete_everything'" in results[1]
        assert "Field required" in results[2]
        assert results[3] == "Wrote hello.txt (6 bytes)."
    assert [e.data["path"] for e in events if e.type == "file_changed"] == ["hello.txt"]
    files = (await fake_api.get(f"/projects/{project_id}/files")).json()
    assert sorted(f["path"] for f in files) == ["README.md", "hello.txt"]


async def test_a_tool_call_malformed_again_after_its_retry_ends_the_run_with_model_error(
    fake_api: httpx.AsyncClient, fake_script: Script
) -> None:
    fake_script.coder_raw_calls = [("write_file", "{not json")] * 2
    _, events = await run_chat(fake_api)

    assert events[-1].type == "error", events[-1]
    assert events[-1].data["code"] == "model_error"
    assert "Tool 'write_file' exceeded max retries" in events[-1].data["message"]
    calls = coder_calls(events)
    assert [c["tool_arguments"] for c in calls] == [{"INVALID_JSON": "{not json"}] * 2, "the stream shows both"
    assert "Invalid JSON" in responses(events)[str(calls[0]["tool_call_id"])]
    history = (await fake_api.get(f"/sessions/{events[0].data['session_id']}/messages")).json()
    assert history[-1]["run_status"] == "failed"
