"""The real Anthropic provider path, against a Messages API server on loopback."""

from __future__ import annotations

import httpx
import pytest

from tests.fake_anthropic import INPUT_TOKENS, OUTPUT_TOKENS
from tests.fake_models import Script
from tests.support import run_chat

pytestmark = pytest.mark.parametrize("served", ["anthropic"], indirect=True, scope="module")


async def test_anthropic_end_to_end(fake_api: httpx.AsyncClient, fake_script: Script) -> None:
    fake_script.planner_calls = [("read_file", {"path": "README.md"})]
    fake_script.coder_writes = [("../escape.txt", "x"), ("hello.txt", "hello\n")]
    project_id, events = await run_chat(fake_api)

    assert events[-1].type == "complete", events[-1]
    assert [r["model"] for r in fake_script.requests] == ["claude-sonnet-4-5"] * len(fake_script.requests)
    deltas = [e.data for e in events if e.type == "agent_delta"]
    thoughts = "".join(d["delta"] for d in deltas if d["agent_name"] == "Coder" and d["message_type"] == "thought")
    assert thoughts.startswith("The Coder considers the request."), "thinking_delta streams as thought deltas"
    answer = "".join(d["delta"] for d in deltas if d["agent_name"] == "Planner" and d["message_type"] == "message")
    assert answer == "All done. Coder said: I wrote the files.", "text_delta streams as message deltas"

    interactions = [e.data for e in events if e.type == "agent_interaction"]
    calls = [i for i in interactions if i["message_type"] == "tool_call"]
    assert [(c["agent_name"], c["tool_name"]) for c in calls] == [
        ("Planner", "read_file"),
        ("Planner", "hand_off_to_coder"),
        ("Coder", "write_file"),
        ("Coder", "write_file"),
    ]
    assert calls[-1]["tool_arguments"] == {"path": "hello.txt", "content": "hello\n"}, "input_json_delta joined"
    responses = {i["tool_call_id"]: i["content"] for i in interactions if i["message_type"] == "tool_response"}
    assert responses.keys() == {c["tool_call_id"] for c in calls}
    assert responses[calls[0]["tool_call_id"]] == "# New project\n"
    [readme] = [b for b in fake_script.requests[1]["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert readme["tool_use_id"] == calls[0]["tool_call_id"]
    assert readme["content"] == [{"type": "text", "text": "# New project\n"}]
    assert "Error" in responses[calls[2]["tool_call_id"]]
    assert responses[calls[3]["tool_call_id"]] == "Wrote hello.txt (6 bytes)."
    assert any(i["message_type"] == "thought" and i["agent_name"] == "Planner" for i in interactions)

    changed = [e.data for e in events if e.type == "file_changed"]
    assert [(c["path"], c["change_type"]) for c in changed] == [("hello.txt", "created")]
    files = (await fake_api.get(f"/projects/{project_id}/files")).json()
    assert sorted(f["path"] for f in files) == ["README.md", "hello.txt"]
    complete = events[-1].data
    assert complete["message"]["content"] == "All done. Coder said: I wrote the files."
    assert [c["path"] for c in complete["code_changes"]] == ["hello.txt"]
    assert {k: v for k, v in complete["usage"]["Planner"].items() if k != "cost_usd"} == {
        "requests": 3,
        "input_tokens": 3 * INPUT_TOKENS,
        "output_tokens": 3 * OUTPUT_TOKENS,
        "tool_calls": 2,
    }
    assert complete["usage"]["Coder"]["requests"] == 3
    assert complete["usage"]["Coder"]["tool_calls"] == 2


@pytest.mark.parametrize(("status", "retries"), [(400, 0), (529, 4)])
async def test_an_error_response_ends_the_run_with_model_error(
    fake_api: httpx.AsyncClient, fake_script: Script, status: int, retries: int
) -> None:
    fake_script.fail_status = status
    _, events = await run_chat(fake_api)
    assert [e.type for e in events] == ["start", *["agent_interaction"] * retries, "error"]
    assert all("overloaded" in e.data["content"] for e in events[1:-1]), "each retry is a System thought"
    assert events[-1].data["code"] == "model_error"
    assert "fake server exploded" in events[-1].data["message"]
    assert len(fake_script.requests) == 1 + retries, (
        "an overloaded server is retried (TANDEM_MODEL_RETRIES), not a bad request"
    )
    history = (await fake_api.get(f"/sessions/{events[0].data['session_id']}/messages")).json()
    assert history[-1]["run_status"] == "failed"


async def test_an_overloaded_error_event_mid_stream_is_retried(
    fake_api: httpx.AsyncClient, fake_script: Script
) -> None:
    fake_script.stream_error = "overloaded_error"
    _, events = await run_chat(fake_api)
    assert [e.type for e in events[:3]] == ["start", "agent_delta", "agent_interaction"]
    assert events[1].data == {
        "agent_name": "Planner",
        "message_type": "thought",
        "delta": "The Pla",
        "tool_call_id": None,
    }
    assert events[2].data["agent_name"] == "System"
    assert "overloaded" in events[2].data["content"]
    assert events[-1].type == "complete", "the retry got the answer"
    assert len(fake_script.requests) > 1
