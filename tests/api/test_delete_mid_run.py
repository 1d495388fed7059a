"""Deleting a session or a project while one of its runs is active is refused with 409 `busy`:
the run goes on, its stream ends with its one terminal event, and the history stays whole."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.test_bad_input import assert_error
from tests.support import Event, read_events

TERMINAL = ("complete", "error")


async def test_deleting_the_session_or_project_of_a_running_run_is_busy(
    client: httpx.AsyncClient, project_id: int
) -> None:
    events: list[Event] = []
    async with client.stream("POST", f"/chat/{project_id}/stream", json={"message": "keep me"}) as response:
        async for event in read_events(response):
            events.append(event)
            if len(events) == 3:
                run_id, session_id = event.raw["run_id"], events[0].data["session_id"]
                for url in (f"/sessions/{session_id}", f"/projects/{project_id}"):
                    refused = await client.delete(url)
                    await assert_error(refused, 409, "busy")
                    assert run_id in refused.json()["message"]
    assert [e.type for e in events if e.type in TERMINAL] == ["complete"], "exactly one terminal event"
    assert events[-1].type == "complete"

    history = (await client.get(f"/sessions/{session_id}/messages")).json()
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["content"] == events[-1].data["message"]["content"]
    assert history[1]["run_status"] == "completed"
    assert len(history[1]["agent_interactions"]) == sum(e.type == "agent_interaction" for e in events)

    # Once the run has ended both go, and take the run with them.
    for _ in range(100):
        if (await client.get(f"/projects/{project_id}")).json()["active_run_id"] is None:
            break
        await asyncio.sleep(0.05)
    assert (await client.delete(f"/sessions/{session_id}")).status_code == 204
    await assert_error(await client.get(f"/sessions/{session_id}"), 404, "not_found")
    await assert_error(await client.get(f"/runs/{run_id}"), 404, "not_found")
    assert (await client.delete(f"/projects/{project_id}")).status_code == 204


async def test_deleting_another_session_of_the_project_mid_run_is_allowed(
    client: httpx.AsyncClient, project_id: int
) -> None:
    earlier = (await client.post(f"/chat/{project_id}", json={"message": "earlier"})).json()
    events: list[Event] = []
    async with client.stream("POST", f"/chat/{project_id}/stream", json={"message": "now"}) as response:
        async for event in read_events(response):
            events.append(event)
            if len(events) == 3:
                assert (await client.delete(f"/sessions/{earlier['session_id']}")).status_code == 204
    assert events[-1].type == "complete"
    sessions = (await client.get(f"/projects/{project_id}/sessions")).json()
    assert [s["id"] for s in sessions] == [events[0].data["session_id"]]
