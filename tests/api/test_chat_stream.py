"""The seed's streaming chat, end to end over a real socket, with the scripted model (not AI)."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.support import Event, read_events


async def stream_chat(client: httpx.AsyncClient, project_id: int, message: str, **body: object) -> list[Event]:
    async with client.stream("POST", f"/chat/{project_id}/stream", json={"message": message, **body}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in response.headers
        return [event async for event in read_events(response)]


def check_seed_fields(event: Event) -> None:
    data = event.data
    if event.type == "start":
        assert isinstance(data["session_id"], int)
        assert isinstance(data["user_message_id"], int)
    elif event.type == "agent_interaction":
        assert data["agent_name"] in ("Planner", "Coder", "System")
        assert data["message_type"] in ("thought", "tool_call", "tool_response")
        assert isinstance(data["content"], str)
        assert data["tool_name"] is None or isinstance(data["tool_name"], str)
        assert data["tool_arguments"] is None or isinstance(data["tool_arguments"], dict)
        datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00"))
        if data["message_type"] == "tool_call":
            assert data["tool_name"]
            assert isinstance(data["tool_arguments"], dict)
    elif event.type == "complete":
        message = data["message"]
        assert {"id", "session_id", "role", "content", "agent_name", "created_at"} <= set(message)
        assert message["role"] == "assistant"
        assert isinstance(data["code_changes"], list)


async def test_scripted_run_streams_the_seed_contract(client: httpx.AsyncClient, project_id: int) -> None:
    events = await stream_chat(client, project_id, "Add a title to the page")

    assert events[0].type == "start"
    assert events[-1].type == "complete"
    assert [e.type for e in events].count("complete") == 1
    assert [e.id for e in events] == list(range(1, len(events) + 1)), "seq starts at 1, no gaps"
    assert all(e.raw["seq"] == e.id and e.raw["run_id"] == events[0].data["run_id"] for e in events)
    for event in events:
        check_seed_fields(event)

    interactions = [e.data for e in events if e.type == "agent_interaction"]
    agents = {i["agent_name"] for i in interactions}
    assert {"Planner", "Coder", "System"} <= agents
    assert {i["message_type"] for i in interactions} == {"thought", "tool_call", "tool_response"}
    calls = {i["tool_call_id"] for i in interactions if i["message_type"] == "tool_call"}
    responses = {i["tool_call_id"] for i in interactions if i["message_type"] == "tool_response"}
    assert calls == responses, "every tool call is paired with its response"
    assert any(e.type == "agent_delta" for e in events)

    complete = events[-1].data
    assert "scripted model (not AI)" in complete["message"]["content"]
    assert set(complete["usage"]) == {"Planner", "Coder"}
    assert complete["usage"]["Coder"]["requests"] >= 1
    [change] = complete["code_changes"]
    assert change["path"] == "TANDEM_NOTES.md"
    assert change["change_type"] == "created"
    assert "+- Add a title to the page" in change["diff"]

    file = (await client.get(f"/projects/{project_id}/files/TANDEM_NOTES.md")).json()
    assert "- Add a title to the page" in file["content"]

    session_id = events[0].data["session_id"]
    history = (await client.get(f"/sessions/{session_id}/messages")).json()
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "Add a title to the page"
    assert history[1]["content"] == complete["message"]["content"]
    stored = [{k: v for k, v in i.items() if k != "seq"} for i in history[1]["agent_interactions"]]
    assert stored == interactions, "history holds exactly the interactions the stream showed"


async def test_deltas_join_into_the_final_text(client: httpx.AsyncClient, project_id: int) -> None:
    events = await stream_chat(client, project_id, "hello")
    planner_text = "".join(
        e.data["delta"]
        for e in events
        if e.type == "agent_delta" and e.data["agent_name"] == "Planner" and e.data["message_type"] == "message"
    )
    assert planner_text.endswith(events[-1].data["message"]["content"])


async def test_session_continues_and_non_streaming_endpoint_returns_the_same(
    client: httpx.AsyncClient, project_id: int
) -> None:
    first = await stream_chat(client, project_id, "first request")
    session_id = first[0].data["session_id"]

    response = await client.post(f"/chat/{project_id}", json={"message": "second request", "session_id": session_id})
    assert response.status_code == 200
    body = response.json()
    assert body["session_id"] == session_id
    assert body["status"] == "completed"
    assert body["message"]["role"] == "assistant"
    assert "scripted model (not AI)" in body["message"]["content"]
    assert [c["path"] for c in body["code_changes"]] == ["TANDEM_NOTES.md"]
    assert body["code_changes"][0]["change_type"] == "modified"
    assert {i["agent_name"] for i in body["agent_interactions"]} >= {"Planner", "Coder", "System"}

    history = (await client.get(f"/sessions/{session_id}/messages")).json()
    assert [m["content"] for m in history if m["role"] == "user"] == ["first request", "second request"]
    assert history[-1]["content"] == body["message"]["content"]
    sessions = (await client.get(f"/projects/{project_id}/sessions")).json()
    assert [s["id"] for s in sessions] == [session_id]


async def test_a_failed_tool_result_is_marked_failed_in_the_stream_and_the_history(
    client: httpx.AsyncClient, project_id: int
) -> None:
    # The scripted Coder reads TANDEM_NOTES.md before writing it: the read fails, the write works.
    events = await stream_chat(client, project_id, "Take a note")
    results = [e.data for e in events if e.type == "agent_interaction" and e.data["message_type"] == "tool_response"]
    by_tool = {r["tool_name"]: r["failed"] for r in results if r["tool_name"] in ("read_file", "write_file")}
    assert by_tool == {"read_file": True, "write_file": False}
    assert not any(
        e.data["failed"] for e in events if e.type == "agent_interaction" and e.data["message_type"] != "tool_response"
    )

    history = (await client.get(f"/sessions/{events[0].data['session_id']}/messages")).json()
    stored = {
        i["tool_name"]: i["failed"] for i in history[1]["agent_interactions"] if i["message_type"] == "tool_response"
    }
    assert stored["read_file"] is True
    assert stored["write_file"] is False
