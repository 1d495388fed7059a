"""Stopping a run stops its agents: after a cancel, a lost lease or a shutdown no model call, no tool
and no file write happens, and nothing follows the terminal event. With the scripted model (not AI),
whose Coder writes TANDEM_NOTES.md about two thirds into a run."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import select

from tandem.container import Container, build_container
from tandem.persistence.models import Run, RunEventRow
from tandem.settings import Settings
from tests.api.test_runs import attach, first_events, new_project, wait_status
from tests.conftest import Backend, ServerFactory
from tests.support import Event, Server, read_events

NOTES = "TANDEM_NOTES.md"


@asynccontextmanager
async def another_process(server: Server, backend: Backend) -> AsyncIterator[Container]:
    """A second Tandem process (not serving HTTP) on `server`'s database and event log."""
    container = build_container(
        Settings(
            data_dir=server.data_dir,
            database_url=backend.get("TANDEM_DATABASE_URL"),
            events_url=backend.get("TANDEM_EVENTS_URL"),
        )
    )
    try:
        yield container
    finally:
        await container.runs.shutdown()
        await container.engine.dispose()


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


async def take_over(other: Container, run_id: str) -> None:
    """End a run from another process, as its lease monitor does once the run's lease lapsed."""
    for _ in range(500):
        await other.runs.interrupt_stale(0)
        async with other.sessions() as session:
            if await session.scalar(select(Run.status).where(Run.id == run_id)) != "running":
                return
        # Skipped while the run's own process holds the row (it is writing a batch): try again.
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} could not be taken over")


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


async def test_a_run_taken_over_by_another_process_stops_here(
    client: httpx.AsyncClient, scripted_server: Server, backend: Backend
) -> None:
    stopped, reference = await new_project(client), await new_project(client)
    live: list[Event] = []
    racing: asyncio.Future[None] | None = None
    async with (
        another_process(scripted_server, backend) as other,
        client.stream("POST", f"/chat/{stopped}/stream", json={"message": "lose me"}) as response,
    ):
        async for event in read_events(response):
            live.append(event)
            if event.type == "agent_delta" and racing is None:  # the Planner is thinking
                # As if this process had stalled past its lease: another one ends the run.
                await take_over(other, event.raw["run_id"])
                racing = asyncio.ensure_future(run_to_the_end(client, reference))
    assert racing is not None
    assert live[-1].type == "error"
    assert live[-1].data["code"] == "interrupted"
    assert (await client.get(f"/runs/{live[0].data['run_id']}")).json()["status"] == "interrupted"

    await racing
    await assert_stopped_cleanly(client, stopped, live)


async def test_an_idle_run_keeps_its_lease(start_server: ServerFactory, backend: Backend) -> None:
    # Heartbeats ten times a lease: only a run that never renews while idle can look stale.
    server = start_server(TANDEM_MODEL="scripted", TANDEM_HEARTBEAT_SECONDS="0.1")
    async with (
        httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client,
        another_process(server, backend) as other,
    ):
        project_id = await new_project(client)
        # The model's first chunk takes 4 s: until then the run has nothing to write.
        async with client.stream(
            "POST", f"/chat/{project_id}/stream", json={"message": "[scripted pace=4] wait"}
        ) as response:
            [started] = await first_events(response, 1)
        run_id = started.data["run_id"]
        await asyncio.sleep(1.5)
        assert await other.runs.interrupt_stale(1.0) == 0, "another process took the idle run for dead"
        assert (await client.get(f"/runs/{run_id}")).json()["status"] == "running"
        await client.post(f"/runs/{run_id}/cancel")
        assert (await wait_status(client, run_id))["status"] == "cancelled"


async def test_sigterm_ends_every_live_run_as_interrupted(start_server: ServerFactory, backend: Backend) -> None:
    server = start_server(TANDEM_MODEL="scripted", TANDEM_SCRIPTED_PACE="0.05")
    live: dict[int, str] = {}
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        for _ in range(2):
            project_id = await new_project(client)
            async with client.stream("POST", f"/chat/{project_id}/stream", json={"message": "shut"}) as response:
                seen = await first_events(response, 2)  # the Planner is at work; the viewer leaves
            live[project_id] = seen[0].data["run_id"]

    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(server.process.wait, 30)
    except subprocess.TimeoutExpired:
        raise AssertionError("the server did not stop on SIGTERM") from None

    # What the stopped server left in the database.
    async with another_process(server, backend) as other, other.sessions() as session:
        for project_id, run_id in live.items():
            run = await session.get_one(Run, run_id)
            assert (run.status, run.error_code, run.active_project_id) == ("interrupted", "interrupted", None)
            events = list(
                await session.execute(
                    select(RunEventRow.seq, RunEventRow.type, RunEventRow.payload)
                    .where(RunEventRow.run_id == run_id)
                    .order_by(RunEventRow.seq)
                )
            )
            assert [e.seq for e in events] == list(range(1, run.last_seq + 1)), project_id
            assert events[-1].type == "error"
            assert '"code":"interrupted"' in events[-1].payload
