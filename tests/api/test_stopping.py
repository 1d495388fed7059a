"""Stopping a run stops its agents: after a cancel, a lost lease or a shutdown no model call, no tool
and no file write happens, and nothing follows the terminal event. With the scripted model (not AI),
whose Coder writes TANDEM_NOTES.md about two thirds into a run."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.test_runs import attach, new_project
from tests.support import Event, read_events

NOTES = "TANDEM_NOTES.md"


async def run_to_the_end(client: httpx.AsyncClient, project_id: int) -> None:
    """A run started alongside a stopped one: once it completes, the stopped one would have written."""
    response = await client.post(f"/chat/{project_id}", json={"message": "reference"})
    assert response.json()["status"] == "completed", response.text
    assert (await client.get(f"/projects/{project_id}/files/{NOTES}")).status_code == 200


async def assert_stopped_cleanly(client: httpx.AsyncClient, project_id: int, live: list[Event]) -> None:
    run_id = live[0].data["run_id"]
    assert (await client.get(f"/projects/{project_id}/files/{NOTES}")).status_code == 404, "the Coder wrote"
    assert (await client.get(f"/runs/{run_id}/changes")).json() == []
    replay = await attach(client, run_id)
    assert [e.raw for e in replay] == [e.raw for e in live], "nothing after the terminal event"


async def test_cancel_stops_the_agents_before_their_tools_run(client: httpx.AsyncClient) -> None:
    stopped, reference = await new_project(client), await new_project(client)
    live: list[Event] = []
    racing: asyncio.Future[None] | None = None
    async with client.stream("POST", f"/chat/{stopped}/stream", json={"message": "stop me"}) as response:
        async for event in read_events(response):
            live.append(event)
            if event.type == "agent_delta" and racing is None:  # the Planner is thinking
                racing = asyncio.ensure_future(run_to_the_end(client, reference))
                assert (await client.post(f"/runs/{event.raw['run_id']}/cancel")).status_code == 202
    assert racing is not None
    assert live[-1].type == "error"
    assert live[-1].data["code"] == "cancelled"
    assert not any(e.type == "file_changed" for e in live)

    await racing
    await assert_stopped_cleanly(client, stopped, live)
