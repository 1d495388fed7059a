"""Two server processes sharing PostgreSQL and Redis: any process serves any run."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_runs import attach, first_events, new_project, wait_status
from tests.support import Event, PrivateRedis, Server, read_events

# Two server processes to start per test, and leases to run out: room for a loaded machine.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def start(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Callable[[str], Server]]:
    servers: list[Server] = []

    def start_one(name: str) -> Server:
        server = Server(data_dir=tmp_path / name, env=cluster_env).start()
        servers.append(server)
        return server

    yield start_one
    for server in servers:
        server.stop()


@pytest.fixture
async def a_and_b(start: Callable[[str], Server]) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    a, b = start("a"), start("b")
    async with (
        httpx.AsyncClient(base_url=f"{a.url}/api/v1", timeout=30) as client_a,
        httpx.AsyncClient(base_url=f"{b.url}/api/v1", timeout=30) as client_b,
    ):
        yield client_a, client_b


async def test_reattach_on_another_process_sees_the_whole_sequence(
    a_and_b: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = a_and_b
    project_id = await new_project(a)
    async with a.stream("POST", f"/chat/{project_id}/stream", json={"message": "span"}) as response:
        seen = await first_events(response, 3)
    run_id = seen[0].data["run_id"]
    assert (await b.get(f"/runs/{run_id}")).json()["status"] == "running"

    on_b = await attach(b, run_id, headers={"Last-Event-ID": "3"})
    assert [e.id for e in on_b] == list(range(4, on_b[-1].id + 1)), "no gaps, no duplicates"
    assert on_b[-1].type == "complete"
    full_on_a = await attach(a, run_id)
    assert [e.raw for e in full_on_a] == [e.raw for e in seen + on_b]


async def test_cancel_through_b_stops_the_run_on_a(a_and_b: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
    a, b = a_and_b
    project_id = await new_project(a)
    async with a.stream("POST", f"/chat/{project_id}/stream", json={"message": "stop me"}) as response:
        events: list[Event] = []
        async for event in read_events(response):
            events.append(event)
            if len(events) == 3:
                assert (await b.post(f"/runs/{event.raw['run_id']}/cancel")).status_code == 202
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "cancelled"
    assert (await b.get(f"/runs/{events[0].data['run_id']}")).json()["status"] == "cancelled"


async def test_simultaneous_posts_through_a_and_b_start_one_run(
    a_and_b: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = a_and_b
    project_id = await new_project(a)
    first, second = await asyncio.gather(
        a.post(f"/chat/{project_id}", json={"message": "from a"}),
        b.post(f"/chat/{project_id}", json={"message": "from b"}),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 409]
    refused = first if first.status_code == 409 else second
    assert refused.json()["code"] == "busy"
    sessions = (await a.get(f"/projects/{project_id}/sessions")).json()
    assert len(sessions) == 1


async def test_killed_process_is_detected_by_the_other(start: Callable[[str], Server]) -> None:
    a, b = start("a"), start("b")
    async with (
        httpx.AsyncClient(base_url=f"{a.url}/api/v1", timeout=30) as client_a,
        httpx.AsyncClient(base_url=f"{b.url}/api/v1", timeout=60) as client_b,
    ):
        project_id = await new_project(client_a)
        async with client_a.stream("POST", f"/chat/{project_id}/stream", json={"message": "die"}) as response:
            seen = await first_events(response, 3)
        run_id = seen[0].data["run_id"]
        async with client_b.stream("GET", f"/runs/{run_id}/stream", params={"after": 3}) as response:
            events: list[Event] = []
            async for event in read_events(response):
                events.append(event)
                if len(events) == 1:
                    a.kill()
        assert events[-1].type == "error"
        assert events[-1].data["code"] == "interrupted"
        assert [e.id for e in events] == list(range(4, events[-1].id + 1))
        run = (await client_b.get(f"/runs/{run_id}")).json()
        assert run["status"] == "interrupted"
        again = await client_b.post(f"/chat/{project_id}", json={"message": "after"})
        assert again.json()["status"] == "completed", "the project is free again"


async def test_redis_restart_mid_run_loses_nothing(
    a_and_b: tuple[httpx.AsyncClient, httpx.AsyncClient], private_redis: PrivateRedis
) -> None:
    a, b = a_and_b
    project_id = await new_project(a)
    async with a.stream("POST", f"/chat/{project_id}/stream", json={"message": "weather"}) as response:
        stream = read_events(response)
        events = [await anext(stream) for _ in range(3)]
        await asyncio.to_thread(private_redis.stop)
        await asyncio.to_thread(private_redis.start)
        events.extend([event async for event in stream])
    assert events[-1].type == "complete", "the run ends with its terminal event"
    assert [e.id for e in events] == list(range(1, events[-1].id + 1))
    run_id = events[0].data["run_id"]
    run = await wait_status(b, run_id)
    assert run["status"] == "completed"
    on_b = await attach(b, run_id)
    assert [e.raw for e in on_b] == [e.raw for e in events], "B replays the whole run from the database"
    history = (await b.get(f"/sessions/{events[0].data['session_id']}/messages")).json()
    assert len(history[1]["agent_interactions"]) == sum(e.type == "agent_interaction" for e in events)


async def test_a_stalled_process_yields_its_run_to_the_lease(start: Callable[[str], Server]) -> None:
    a, b = start("a"), start("b")
    async with (
        httpx.AsyncClient(base_url=f"{a.url}/api/v1", timeout=60) as client_a,
        httpx.AsyncClient(base_url=f"{b.url}/api/v1", timeout=60) as client_b,
    ):
        project_id = await new_project(client_a)
        async with client_a.stream("POST", f"/chat/{project_id}/stream", json={"message": "stall"}) as response:
            stream = read_events(response)
            events = [await anext(stream) for _ in range(3)]
            run_id = events[0].data["run_id"]
            assert a.process is not None
            a.process.send_signal(signal.SIGSTOP)
            try:
                run = await wait_status(client_b, run_id)
            finally:
                a.process.send_signal(signal.SIGCONT)
            assert run["status"] == "interrupted"
            events.extend([event async for event in stream])
        assert events[-1].type == "error", "A stops the run and ends its stream with the database's story"
        assert events[-1].data["code"] == "interrupted"
        assert [e.id for e in events] == list(range(1, events[-1].id + 1))
        assert (await client_a.get(f"/runs/{run_id}")).json()["status"] == "interrupted"
        assert (await attach(client_b, run_id))[-1].raw == events[-1].raw
