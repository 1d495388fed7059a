"""Chaos on the scale-out configuration: two processes share PostgreSQL and a private Redis; one of
them is killed (-9) while it executes runs and restarted, again and again, and Redis restarts, while
clients start runs and follow them through whichever process is alive. Nothing is lost or
duplicated: every run's stream, re-attached with Last-Event-ID, is gap-free and ends with exactly
one terminal event; its history agrees with what the stream delivered; no run stays `running`."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import Event, PrivateRedis, Server, read_events

TERMINAL = ("complete", "error")
VICTIMS = ("a", "b", "a")
"""Killed in turn, each while it executes a followed run, and restarted before the next kill."""
CLIENTS = 3
"""Clients, one project each, each running one run after another until the chaos is over."""
BOUND = 60.0
"""Seconds a client may take to see a run through, or the chaos to find its moment."""


@dataclass(eq=False)
class Node:
    name: str
    server: Server
    client: httpx.AsyncClient
    up: bool = True


@dataclass(eq=False)
class Followed:
    """One run as a client saw it."""

    project_id: int
    began: float
    run_id: str | None = None
    owner: Node | None = None
    """The process that created the run (the first POST answered), so executes it."""
    events: list[Event] = field(default_factory=list)
    cancelled: bool = False
    ended: float | None = None

    @property
    def last(self) -> int:
        return len(self.events)


@dataclass
class Cluster:
    nodes: dict[str, Node]
    redis: PrivateRedis
    kills: list[tuple[float, Node]] = field(default_factory=list)
    runs: list[Followed] = field(default_factory=list)
    over: bool = False
    turn: int = 0

    def pick(self) -> Node:
        """The next live process, in turn: clients spread over them and move on when one dies."""
        live = [node for node in self.nodes.values() if node.up]
        self.turn += 1
        return live[self.turn % len(live)]


@pytest.fixture
async def cluster(tmp_path: Path, postgres_url: str, private_redis: PrivateRedis) -> AsyncIterator[Cluster]:
    env = {
        "TANDEM_DATABASE_URL": postgres_url,
        "TANDEM_EVENTS_URL": private_redis.url,
        "TANDEM_RUN_LEASE_SECONDS": "2",
        "TANDEM_HEARTBEAT_SECONDS": "0.5",
        "TANDEM_MODEL": "scripted",
        "TANDEM_SCRIPTED_PACE": "0.02",
    }
    servers = [Server(data_dir=tmp_path / name, env=env) for name in ("a", "b")]
    try:
        await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers))
        async with (
            httpx.AsyncClient(base_url=f"{servers[0].url}/api/v1", timeout=10) as a,
            httpx.AsyncClient(base_url=f"{servers[1].url}/api/v1", timeout=10) as b,
        ):
            yield Cluster(nodes={"a": Node("a", servers[0], a), "b": Node("b", servers[1], b)}, redis=private_redis)
    finally:
        for server in servers:
            server.stop()


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"waited {BOUND} s for {what}"
        await asyncio.sleep(0.02)


async def chaos(cluster: Cluster) -> None:
    def executing(victim: Node) -> Callable[[], bool]:
        return lambda: any(run.owner is victim and run.ended is None and run.last >= 3 for run in cluster.runs)

    for index, name in enumerate(VICTIMS):
        victim = cluster.nodes[name]
        await until(executing(victim), f"{name} to execute a run")
        victim.up = False
        victim.server.kill()
        cluster.kills.append((time.monotonic(), victim))
        if index == 1:
            # Both event logs lose their Redis mid-run: the survivor's runs, and the streams that
            # mirror them, carry on through the restart.
            await until(lambda: any(run.ended is None and run.last >= 3 for run in cluster.runs), "a live run")
            cluster.redis.stop()
            cluster.redis.start()
        await asyncio.to_thread(victim.server.start)
        victim.up = True
    cluster.over = True


async def cancel(cluster: Cluster, run_id: str) -> None:
    """Ask whichever process is alive, until one answers."""
    deadline = time.monotonic() + BOUND
    while True:
        try:
            response = await cluster.pick().client.post(f"/runs/{run_id}/cancel")
            assert response.status_code == 202, response.text
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"no process took the cancel of {run_id}"
            await asyncio.sleep(0.1)


async def see_through(cluster: Cluster, run: Followed, message: str, *, cancel_at: int | None) -> None:
    """Start a run and follow it to its terminal event through whichever process is alive,
    re-attaching with Last-Event-ID; a retried start carries the same Idempotency-Key."""
    key = uuid.uuid4().hex
    cancels: list[asyncio.Task[None]] = []
    first = True
    while run.ended is None:
        assert time.monotonic() - run.began < BOUND, f"run {run.run_id} not seen through in {BOUND} s"
        node = cluster.pick()
        if run.run_id is None:
            request = node.client.stream(
                "POST", f"/chat/{run.project_id}/stream", json={"message": message}, headers={"Idempotency-Key": key}
            )
        else:
            request = node.client.stream("GET", f"/runs/{run.run_id}/stream", headers={"Last-Event-ID": str(run.last)})
        try:
            async with request as response:
                assert response.status_code == 200, (await response.aread()).decode()
                replays = run.run_id is None  # a start replays the run from seq 1
                if run.run_id is None:
                    run.run_id = response.headers["x-run-id"]
                    # A retried start may attach to a run another process created before it died.
                    run.owner = node if first else None
                async for event in read_events(response):
                    if replays and event.id <= run.last:
                        assert event.raw == run.events[event.id - 1].raw, "a replay differs"
                        continue
                    assert run.ended is None, f"event after the terminal event: {event.raw}"
                    assert event.id == run.last + 1, f"seq {event.id} after {run.last}: a gap or a duplicate"
                    run.events.append(event)
                    if event.type in TERMINAL:
                        run.ended = time.monotonic()
                    if event.id == cancel_at:
                        run.cancelled = True
                        cancels.append(asyncio.create_task(cancel(cluster, event.raw["run_id"])))
                # A stream ends after the terminal event; only a dying process cuts it short.
                assert run.ended is not None, f"stream of {run.run_id} on {node.name} closed early at {run.last}"
        except httpx.TransportError:
            await asyncio.sleep(0.1)
        first = False
    await asyncio.gather(*cancels)


async def client(cluster: Cluster, number: int) -> None:
    project = (await cluster.pick().client.post("/projects", json={"name": f"chaos {number}"})).json()
    index = 0
    while not cluster.over:
        run = Followed(project_id=project["id"], began=time.monotonic())
        cluster.runs.append(run)
        # Every third run is also cancelled, through whichever process, mid-run.
        await see_through(cluster, run, f"client {number} run {index}", cancel_at=10 if index % 3 == 2 else None)
        index += 1


@pytest.mark.timeout(240)
async def test_kills_and_a_redis_restart_lose_nothing(cluster: Cluster) -> None:
    async with asyncio.TaskGroup() as group:
        group.create_task(chaos(cluster))
        for number in range(CLIENTS):
            group.create_task(client(cluster, number))

    api = cluster.nodes["b"].client
    sessions: dict[int, int] = {}
    interrupted = 0
    for run in cluster.runs:
        assert run.run_id is not None
        assert run.ended is not None
        state = (await api.get(f"/runs/{run.run_id}")).json()
        terminal = run.events[-1]
        # Interrupted only by the death of the process executing it (or perhaps executing it: a
        # retried start may have attached to a run of a process that died).
        hit = any(run.began <= at <= run.ended and run.owner in (None, victim) for at, victim in cluster.kills)
        allowed = {"completed"} | ({"cancelled"} if run.cancelled else set()) | ({"interrupted"} if hit else set())
        assert state["status"] in allowed, f"{run.run_id}: {state['status']} ({state['error_message']})"
        assert state["last_seq"] == run.last
        assert (terminal.type, terminal.data.get("code")) == (
            ("complete", None) if state["status"] == "completed" else ("error", state["status"])
        )
        interrupted += state["status"] == "interrupted"
        async with api.stream("GET", f"/runs/{run.run_id}/stream") as response:
            replay = [event.raw async for event in read_events(response)]
        assert replay == [event.raw for event in run.events], f"{run.run_id}: the stored run differs from its stream"
        messages = (await api.get(f"/sessions/{state['session_id']}/messages")).json()
        (answer,) = [m for m in messages if m["run_id"] == run.run_id and m["role"] == "assistant"]
        assert answer["run_status"] == state["status"]
        interactions = [event.id for event in run.events if event.type == "agent_interaction"]
        assert [i["seq"] for i in answer["agent_interactions"]] == interactions, f"{run.run_id}: history != stream"
        sessions[run.project_id] = sessions.get(run.project_id, 0) + 1
    for project_id, count in sessions.items():
        listed = (await api.get(f"/projects/{project_id}/sessions")).json()
        assert len(listed) == count, "a retried start created a second run"
    assert interrupted >= len(VICTIMS), "each kill interrupted the run its victim was executing"
