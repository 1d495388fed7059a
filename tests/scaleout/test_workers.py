"""`tandem serve --workers 2`: one port, two worker processes under a supervisor, on the scale-out
backends. Which worker accepts a connection is the kernel's choice: a test that needs one worker
to take it stops the others (SIGSTOP), so that only it can accept."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tandem.persistence.database import create_engine
from tandem.persistence.models import Run
from tests.api.test_runs import attach, new_project
from tests.support import Event, Server, children, read_events, run_chat

# A server and its workers to start per test: room for a loaded machine.
pytestmark = pytest.mark.timeout(300)

BOUND = 60.0
"""Seconds the supervisor may take to replace a worker, or to stop."""


@pytest.fixture
def server(tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Server]:
    # Logs at info (the last --log-level counts), for uvicorn's lines about each worker's shutdown.
    server = Server(data_dir=tmp_path, env=cluster_env, args=("--workers", "2", "--log-level", "info")).start()
    yield server
    server.stop()  # if it has to kill the supervisor, the workers end on their own (the last test)


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def workers(server: Server, *, other_than: int | None = None) -> list[int]:
    """The supervisor's two workers, once it has two (and `other_than` is no longer one of them)."""
    assert server.process is not None
    deadline = time.monotonic() + BOUND
    while True:
        found = children(server.process.pid)
        if len(found) == 2 and other_than not in found:
            return found
        assert time.monotonic() < deadline, f"workers: {found}"
        await asyncio.sleep(0.05)


@contextmanager
def only(worker: int, among: list[int]) -> Iterator[None]:
    """Only `worker` can accept connections: the others are stopped meanwhile."""
    others = [pid for pid in among if pid != worker]
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)


async def owner_pid(database_url: str, run_id: str) -> int:
    """The process executing the run, from its owner (`host:pid:nonce`)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            owner = await connection.scalar(select(Run.owner).where(Run.id == run_id))
    finally:
        await engine.dispose()
    assert owner is not None
    return int(owner.split(":")[1])


def client(server: Server) -> httpx.AsyncClient:
    """A client of its own, so a connection of its own (accepted by whichever worker can)."""
    return httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60)


async def test_each_worker_serves_the_port_and_streams_its_runs_to_the_end(server: Server, postgres_url: str) -> None:
    pids = await workers(server)
    streamed: dict[int, list[Event]] = {}
    for worker in pids:
        with only(worker, pids):
            async with client(server) as through_port:
                _, events = await run_chat(through_port)
        assert events[-1].type == "complete"
        assert [e.id for e in events] == list(range(1, events[-1].id + 1))
        streamed[await owner_pid(postgres_url, events[0].data["run_id"])] = events
    assert sorted(streamed) == sorted(pids), "each worker executed the run it accepted"
    for worker, events in streamed.items():
        # Both workers up again: whichever accepts replays the run, its own or the other's.
        async with client(server) as through_port:
            replayed = await attach(through_port, events[0].data["run_id"])
        assert [e.raw for e in replayed] == [e.raw for e in events], worker


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["sigterm", "ctrl-c"])
async def test_stopping_the_supervisor_ends_the_workers_gracefully_and_exits_0(server: Server, ctrl_c: bool) -> None:
    pids = await workers(server)
    assert server.process is not None
    async with client(server) as through_port:
        project_id = await new_project(through_port)
        message = {"message": "[scripted pace=0.5] outlast the shutdown"}
        async with through_port.stream("POST", f"/chat/{project_id}/stream", json=message) as response:
            stream = read_events(response)
            events = [await anext(stream)]
            if ctrl_c:  # a terminal's Ctrl-C: SIGINT to every process of the group
                for pid in [*pids, server.process.pid]:
                    os.kill(pid, signal.SIGINT)
            else:
                server.process.send_signal(signal.SIGTERM)
            events.extend([event async for event in stream])
    # The workers shut down gracefully: the one running the run ended it and its stream saw the end.
    assert (events[-1].type, events[-1].data.get("code")) == ("error", "interrupted"), events[-1].raw
    assert [e.id for e in events] == list(range(1, events[-1].id + 1))
    try:
        code = await asyncio.to_thread(server.process.wait, BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError("the supervisor did not stop") from None
    assert code == 0
    assert not [pid for pid in pids if alive(pid)], "workers outlived their supervisor"
    assert server.log_path is not None
    log = server.log_path.read_text()
    # Not cut short (a second SIGINT forces uvicorn's exit, skipping the app's own shutdown).
    assert log.count("Application shutdown complete.") == 2, log
    assert "Traceback" not in log


async def test_a_killed_worker_is_replaced_and_the_replacement_serves(server: Server) -> None:
    pids = await workers(server)
    victim, survivor = pids
    os.kill(victim, signal.SIGKILL)
    replacement = next(pid for pid in await workers(server, other_than=victim) if pid != survivor)
    with only(replacement, [replacement, survivor]):
        async with client(server) as through_port:
            assert (await through_port.get("/health")).status_code == 200
            _, events = await run_chat(through_port)
    assert events[-1].type == "complete"
    assert server.log_path is not None
    assert f"worker {victim} died (exit code -9); starting another" in server.log_path.read_text()


async def test_workers_left_without_their_supervisor_stop(server: Server) -> None:
    pids = await workers(server)
    server.kill()
    deadline = time.monotonic() + BOUND
    while [pid for pid in pids if alive(pid)]:
        assert time.monotonic() < deadline, "orphaned workers still hold the port"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "broken",
    [
        {"TANDEM_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"},  # the app's start-up fails
        {"TANDEM_EVENTS_URL": "http://not-redis"},  # building the app fails
    ],
)
def test_workers_that_cannot_start_stop_the_supervisor_instead_of_restarting_for_ever(
    tmp_path: Path, cluster_env: dict[str, str], broken: dict[str, str]
) -> None:
    server = Server(data_dir=tmp_path, env={**cluster_env, **broken}, args=("--workers", "2"))
    with pytest.raises(RuntimeError, match="server exited"):
        server.start()
    assert server.process is not None
    assert server.process.returncode == 3
    assert server.log_path is not None
    assert "could not start; stopping the others" in server.log_path.read_text()
