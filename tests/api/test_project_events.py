"""`GET /projects/{id}/events`: a client learns of every change to a project's files, whoever made it and
in whichever process, over a real socket; a client that goes leaves nothing behind."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import uvicorn

from tandem.app import create_app
from tandem.services.project_events import ProjectWatch
from tandem.settings import CommandLimits, Settings
from tests.conftest import ServerFactory
from tests.support import Event, free_port, read_events


async def _next(events: AsyncIterator[Event]) -> Event:
    # Not a timing assertion: a bound so that a missing event fails the test instead of hanging it.
    async with asyncio.timeout(30):
        return await anext(events)


async def test_every_change_made_through_one_server_arrives_on_the_stream_of_another(
    start_server: ServerFactory,
) -> None:
    first = start_server(TANDEM_MODEL="scripted")
    second = start_server(data_dir=first.data_dir, TANDEM_MODEL="scripted")
    async with (
        httpx.AsyncClient(base_url=f"{first.url}/api/v1", timeout=30) as one,
        httpx.AsyncClient(base_url=f"{second.url}/api/v1", timeout=30) as two,
    ):
        project = (await one.post("/projects", json={"name": "events", "template": "static-site"})).json()["id"]
        async with two.stream("GET", f"/projects/{project}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = read_events(response)
            watching = await _next(events)
            assert (watching.id, watching.type) == (1, "watching")
            assert watching.raw == {"type": "watching", "seq": 1, "data": watching.data}
            assert watching.data["project_id"] == project

            stamps = [watching.data["updated_at"]]
            changes = [
                one.put(f"/projects/{project}/files/new.html", json={"content": "<p>new</p>"}),
                one.patch(f"/projects/{project}/files/new.html", json={"path": "renamed.html"}),
                one.delete(f"/projects/{project}/files/renamed.html"),
            ]
            for change in changes:
                assert (await change).is_success
                event = await _next(events)
                assert event.type == "files_changed", event
                assert event.id == event.raw["seq"] == len(stamps) + 1
                assert event.data["updated_at"] not in stamps
                # The stamp the stream reports is the project's, as every process sees it.
                assert event.data["updated_at"] == (await two.get(f"/projects/{project}")).json()["updated_at"]
                stamps.append(event.data["updated_at"])

            before = (await one.get(f"/projects/{project}/history")).json()[0]["sha"]
            await one.put(f"/projects/{project}/files/index.html", json={"content": "edited"})
            await _next(events)
            assert (await one.post(f"/projects/{project}/history/{before}/restore")).status_code == 200
            assert (await _next(events)).type == "files_changed", "a restore is a change too"

            assert (await one.delete(f"/projects/{project}")).status_code == 204
            deleted = await _next(events)
            assert (deleted.type, deleted.data["updated_at"]) == ("project_deleted", None)
            assert [event async for event in events] == [], "the stream ends with its project"


async def test_an_unknown_project_is_404(start_server: ServerFactory) -> None:
    server = start_server(TANDEM_MODEL="scripted")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        response = await client.get("/projects/999999/events")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for `condition`, polled: what it watches has no event to wait on."""
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not within 30 s")


async def test_a_client_that_vanishes_leaves_no_follower_and_no_task(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        ping_seconds=0.2,  # a gone client is noticed at the next write, so ping soon
        project_events_poll_seconds=0.05,
        commands=CommandLimits(sandbox="off"),
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        await _until(lambda: server.started)
        watch: ProjectWatch = app.state.container.project_events
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30) as client:
            project = (await client.post("/projects", json={"name": "p", "template": "blank"})).json()["id"]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        for sock in clients:
            sock.setblocking(False)
            request = f"GET /api/v1/projects/{project}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            await asyncio.get_running_loop().sock_sendall(sock, request.encode())
        for sock in clients:
            received = b""
            async with asyncio.timeout(30):
                while b'"watching"' not in received:
                    received += await asyncio.get_running_loop().sock_recv(sock, 65536)
        assert (watch.followed, watch.polling) == (1, True), "three clients of one project: one poll"

        for sock in clients:
            sock.close()
        await _until(lambda: not watch.followed and not watch.polling)
        assert not [task for task in asyncio.all_tasks() if task.get_name() == "project-watch"]
    finally:
        server.should_exit = True
        await serving
