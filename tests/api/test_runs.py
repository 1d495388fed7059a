"""Runs outlive their requests: disconnect, re-attach, cancel, crash recovery, idempotency, busy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import Event, Server, read_events

SLOW = {"TANDEM_MODEL": "scripted", "TANDEM_SCRIPTED_PACE": "0.03"}


async def new_project(client: httpx.AsyncClient) -> int:
    response = await client.post("/projects", json={"name": "runs", "template": "static-site"})
    return int(response.json()["id"])


async def first_events(response: httpx.Response, count: int) -> list[Event]:
    events: list[Event] = []
    async for event in read_events(response):
        events.append(event)
        if len(events) == count:
            break
    return events


async def wait_status(client: httpx.AsyncClient, run_id: str, *, not_in: tuple[str, ...] = ("running",)) -> dict:
    for _ in range(600):
        run = (await client.get(f"/runs/{run_id}")).json()
        if run["status"] not in not_in:
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} still {run['status']}")


async def attach(client: httpx.AsyncClient, run_id: str, **kwargs: object) -> list[Event]:
    async with client.stream("GET", f"/runs/{run_id}/stream", **kwargs) as response:  # type: ignore[arg-type]
        assert response.status_code == 200
        return [event async for event in read_events(response)]


@pytest.fixture
async def slow_client(start_server: ServerFactory) -> AsyncIterator[httpx.AsyncClient]:
    # Retention 0: once a run ends its events are served from the database, not memory.
    server = start_server(**SLOW, TANDEM_EVENT_RETENTION_SECONDS="0")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        yield client


async def test_disconnect_keeps_the_run_and_reattach_resumes_exactly(slow_client: httpx.AsyncClient) -> None:
    project_id = await new_project(slow_client)
    async with slow_client.stream("POST", f"/chat/{project_id}/stream", json={"message": "survive"}) as response:
        seen = await first_events(response, 5)
    run_id = seen[0].data["run_id"]
    assert (await slow_client.get(f"/runs/{run_id}")).json()["status"] == "running"

    during = await attach(slow_client, run_id, headers={"Last-Event-ID": "5"})
    assert [e.id for e in during] == list(range(6, during[-1].id + 1)), "exactly n+1…end, no gaps or duplicates"
    assert during[-1].type == "complete"

    run = await wait_status(slow_client, run_id)
    assert run["status"] == "completed"
    assert run["last_seq"] == during[-1].id

    after = await attach(slow_client, run_id, params={"after": 5})
    assert [e.raw for e in after] == [e.raw for e in during], "replay from the database is identical"
    full = await attach(slow_client, run_id)
    assert [e.raw for e in full[:5]] == [e.raw for e in seen]
    assert [e.raw for e in full[5:]] == [e.raw for e in during]

    history = (await slow_client.get(f"/sessions/{seen[0].data['session_id']}/messages")).json()
    assert len(history[1]["agent_interactions"]) == sum(e.type == "agent_interaction" for e in full)


async def test_on_disconnect_cancel_stops_the_run(slow_client: httpx.AsyncClient) -> None:
    project_id = await new_project(slow_client)
    url = f"/chat/{project_id}/stream?on_disconnect=cancel"
    async with slow_client.stream("POST", url, json={"message": "stop when I leave"}) as response:
        seen = await first_events(response, 3)
    run = await wait_status(slow_client, seen[0].data["run_id"])
    assert run["status"] == "cancelled"


async def test_cancel_mid_run_keeps_partial_history(slow_client: httpx.AsyncClient) -> None:
    project_id = await new_project(slow_client)
    async with slow_client.stream("POST", f"/chat/{project_id}/stream", json={"message": "cancel me"}) as response:
        events: list[Event] = []
        async for event in read_events(response):
            events.append(event)
            if sum(e.type == "agent_interaction" for e in events) == 2:
                cancelled = await slow_client.post(f"/runs/{event.raw['run_id']}/cancel")
                assert cancelled.status_code == 202
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "cancelled"
    run = await wait_status(slow_client, events[0].data["run_id"])
    assert run["status"] == "cancelled"
    assert run["error_code"] == "cancelled"
    history = (await slow_client.get(f"/sessions/{events[0].data['session_id']}/messages")).json()
    kept = history[1]["agent_interactions"]
    assert len(kept) == sum(e.type == "agent_interaction" for e in events) >= 2
    assert history[1]["run_status"] == "cancelled"
    # The project is free again.
    again = await slow_client.post(f"/chat/{project_id}", json={"message": "next"})
    assert again.json()["status"] == "completed"


async def test_a_start_racing_the_end_of_the_active_run_is_refused_only_while_it_holds_the_project(
    slow_client: httpx.AsyncClient,
) -> None:
    project_id = await new_project(slow_client)
    holder: str | None = None
    for _ in range(40):
        # Right after a cancel the active run is finishing: a start is refused naming it, or it starts.
        async with slow_client.stream("POST", f"/chat/{project_id}/stream", json={"message": "race"}) as response:
            if response.status_code == 409:
                refusal = json.loads(await response.aread())
                assert holder is not None
                assert holder in refusal["message"], "a refusal names the run holding the project"
                continue
            holder = (await first_events(response, 2))[0].data["run_id"]
        await slow_client.post(f"/runs/{holder}/cancel")
    assert holder is not None
    await wait_status(slow_client, holder)


async def test_idempotency_key_attaches_to_the_same_run(slow_client: httpx.AsyncClient) -> None:
    project_id = await new_project(slow_client)
    headers = {"Idempotency-Key": "retry-123"}
    async with slow_client.stream(
        "POST", f"/chat/{project_id}/stream", json={"message": "once"}, headers=headers
    ) as response:
        first = await first_events(response, 2)
    async with slow_client.stream(
        "POST", f"/chat/{project_id}/stream", json={"message": "once"}, headers=headers
    ) as response:
        second = [event async for event in read_events(response)]
    assert second[0].raw == first[0].raw, "the retry replays the same run from its start"
    assert second[-1].type == "complete"
    sessions = (await slow_client.get(f"/projects/{project_id}/sessions")).json()
    messages = (await slow_client.get(f"/sessions/{sessions[0]['id']}/messages")).json()
    assert len(sessions) == 1, "one run"
    assert len(messages) == 2, "one exchange"


async def test_second_run_on_a_busy_project_is_refused(slow_client: httpx.AsyncClient) -> None:
    project_id = await new_project(slow_client)
    async with slow_client.stream("POST", f"/chat/{project_id}/stream", json={"message": "first"}) as response:
        first = await first_events(response, 1)
        busy = await slow_client.post(f"/chat/{project_id}/stream", json={"message": "second"})
        assert busy.status_code == 409
        assert busy.json()["code"] == "busy"
        assert first[0].data["run_id"] in busy.json()["message"]
        project = (await slow_client.get(f"/projects/{project_id}")).json()
        assert project["active_run_id"] == first[0].data["run_id"]
    await wait_status(slow_client, first[0].data["run_id"])


async def test_killed_server_leaves_the_run_interrupted(start_server: ServerFactory) -> None:
    server = start_server(**SLOW)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        project_id = await new_project(client)
        async with client.stream("POST", f"/chat/{project_id}/stream", json={"message": "crash"}) as response:
            seen = await first_events(response, 4)
            server.kill()
    run_id = seen[0].data["run_id"]

    restarted = start_server(data_dir=server.data_dir, **SLOW)
    async with httpx.AsyncClient(base_url=f"{restarted.url}/api/v1", timeout=30) as client:
        # At start-up (one process) or once the dead process's lease lapses (several processes).
        run = await wait_status(client, run_id)
        assert run["status"] == "interrupted"
        events = await attach(client, run_id, params={"after": 3})
        assert events[0].id == 4
        assert events[-1].type == "error"
        assert events[-1].data["code"] == "interrupted"
        assert [e.id for e in events] == list(range(4, events[-1].id + 1))
        again = await client.post(f"/chat/{project_id}", json={"message": "after the crash"})
        assert again.json()["status"] == "completed"


def test_server_fixture_is_a_real_socket(scripted_server: Server) -> None:
    assert scripted_server.process is not None
    assert scripted_server.process.poll() is None
    assert httpx.get(f"{scripted_server.url}/api/v1/health").json()["models"]["scripted"] is True


async def test_idle_stream_gets_ping_comments(start_server: ServerFactory) -> None:
    server = start_server(TANDEM_MODEL="scripted", TANDEM_SCRIPTED_PACE="0.6", TANDEM_PING_SECONDS="0.2")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        project_id = await new_project(client)
        lines: list[str] = []
        async with client.stream("POST", f"/chat/{project_id}/stream", json={"message": "idle"}) as response:
            async for line in response.aiter_lines():
                lines.append(line)
                if len(lines) > 12:
                    await client.post(f"/runs/{response.headers['x-run-id']}/cancel")
                    break
    assert ": ping" in lines, "a comment keeps idle connections alive"
    assert lines[0] == "id: 1"
