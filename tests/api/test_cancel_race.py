"""Stop racing the end of a run, hundreds of times: every run reaches exactly one terminal state and
the process keeps serving (issue 10: a cancel landing while a run finished wedged the process)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import Event, read_events

PROJECTS = 4
RACES_PER_PROJECT = 50  # × 4 projects = 200 races per backend, half explicit cancels, half disconnects
TERMINAL_STATUS = {"complete": {"completed"}, "error": {"cancelled", "failed", "interrupted"}}


@dataclass(frozen=True)
class Race:
    run_id: str
    kind: str
    events_seen: int


@pytest.fixture
async def fast_client(start_server: ServerFactory) -> AsyncIterator[httpx.AsyncClient]:
    # Unpaced scripted model (not AI): a run lasts tens of milliseconds, so a cancel after a random
    # number of events lands anywhere from the first event to after the terminal one.
    server = start_server(TANDEM_MODEL="scripted")
    # Generous: on a loaded machine a start may queue behind SQLite's 30 s busy timeout. A wedged
    # run is caught by `_settled`, whatever this is.
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=90) as client:
        yield client


async def _start(client: httpx.AsyncClient, project_id: int, *, on_disconnect: str) -> httpx.Response:
    request = client.build_request(
        "POST",
        f"/chat/{project_id}/stream",
        json={"message": "race"},
        params={"on_disconnect": on_disconnect},
    )
    response = await client.send(request, stream=True)
    assert response.status_code == 200, (await response.aread()).decode()
    return response


async def _run_to_end(client: httpx.AsyncClient, project_id: int) -> list[Event]:
    return await _read_all(await _start(client, project_id, on_disconnect="continue"))


async def _cancel_at(client: httpx.AsyncClient, project_id: int, delay: float) -> Race:
    """Start a run, and Stop it `delay` seconds later while its stream is being read."""
    response = await _start(client, project_id, on_disconnect="continue")
    reading = asyncio.ensure_future(_read_all(response))
    await asyncio.sleep(delay)
    cancelled = await client.post(f"/runs/{response.headers['x-run-id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    events = await reading
    return Race(response.headers["x-run-id"], "cancel", len(events))


async def _read_all(response: httpx.Response) -> list[Event]:
    try:
        return [event async for event in read_events(response)]
    finally:
        await response.aclose()


async def _leave_after(client: httpx.AsyncClient, project_id: int, count: int) -> Race:
    """Start a run with `on_disconnect=cancel`, read `count` events, then drop the connection."""
    response = await _start(client, project_id, on_disconnect="cancel")
    run_id = ""
    seen = 0
    try:
        async for event in read_events(response):
            run_id = run_id or event.data["run_id"]
            seen += 1
            if seen >= count:
                break
    finally:
        await response.aclose()
    return Race(run_id, "disconnect", seen)


async def _settled(client: httpx.AsyncClient, run_id: str) -> dict[str, object]:
    """The run's final state; fails if it is still running after a generous bound."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = await client.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        run = response.json()
        if run["status"] != "running":
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} is still running: a cancel wedged it")


async def _replay(client: httpx.AsyncClient, run_id: str) -> list[Event]:
    async with asyncio.timeout(30), client.stream("GET", f"/runs/{run_id}/stream") as response:
        assert response.status_code == 200
        return [event async for event in read_events(response)]


async def _check(client: httpx.AsyncClient, race: Race) -> str:
    run = await _settled(client, race.run_id)
    events = await _replay(client, race.run_id)
    assert [e.id for e in events] == list(range(1, len(events) + 1)), "seq gap-free from 1"
    terminals = [e for e in events if e.type in TERMINAL_STATUS]
    assert len(terminals) == 1, f"{race}: {len(terminals)} terminal events"
    assert events[-1] is terminals[0], "the terminal event is the last"
    assert run["status"] in TERMINAL_STATUS[terminals[0].type], f"{race}: {run['status']} vs {terminals[0].raw}"
    if terminals[0].type == "error":
        assert terminals[0].data["code"] == run["error_code"]
    assert run["last_seq"] == events[-1].id
    return str(run["status"])


async def _race_on(client: httpx.AsyncClient, rng: random.Random, length: int, duration: float) -> list[str]:
    project = await client.post("/projects", json={"name": "race", "template": "blank"})
    project_id = int(project.json()["id"])
    outcomes = []
    for i in range(RACES_PER_PROJECT):
        # Aim around the end of the run, where the race is: late events, or just past the last.
        if i % 2:
            race = await _cancel_at(client, project_id, rng.uniform(0.3, 1.2) * duration)
        else:
            race = await _leave_after(client, project_id, rng.randint(length // 2, length))
        outcomes.append(await _check(client, race))
    return outcomes


async def test_cancel_racing_the_end_of_runs_never_wedges(fast_client: httpx.AsyncClient) -> None:
    # A run's length in events, to aim the races at its end.
    probe = int((await fast_client.post("/projects", json={"name": "probe"})).json()["id"])
    started = time.monotonic()
    length = len(await _run_to_end(fast_client, probe))
    duration = time.monotonic() - started
    rng = random.Random(20261124)
    results = await asyncio.gather(
        *(_race_on(fast_client, random.Random(rng.random()), length, duration) for _ in range(PROJECTS))
    )
    outcomes = [status for result in results for status in result]
    assert len(outcomes) == PROJECTS * RACES_PER_PROJECT
    # Both sides of the race were hit, or the test aimed badly and proves nothing.
    assert {"completed", "cancelled"} <= set(outcomes), outcomes

    # The process still serves: a fresh run on a fresh project completes.
    project_id = int((await fast_client.post("/projects", json={"name": "after"})).json()["id"])
    assert (await _run_to_end(fast_client, project_id))[-1].type == "complete"
