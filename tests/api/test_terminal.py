"""`POST /projects/{id}/commands`, the user's Terminal, over a real socket: output streams as it is
printed, files come back as edits, leaving stops the whole command, and the sandbox holds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import Event, Server, read_events, running


async def _run(client: httpx.AsyncClient, project_id: int, command: str) -> list[Event]:
    async with (
        asyncio.timeout(120),
        client.stream("POST", f"/projects/{project_id}/commands", json={"command": command}) as response,
    ):
        assert response.status_code == 200, await response.aread()
        return [event async for event in read_events(response)]


async def _run_once_free(client: httpx.AsyncClient, project_id: int, command: str) -> list[Event]:
    """`_run`, once the server has let go of a command whose client left (it notices within moments)."""
    for _ in range(100):
        answer = await client.post(f"/projects/{project_id}/commands", json={"command": "true"})
        if answer.status_code not in (409, 429):
            return await _run(client, project_id, command)
        await asyncio.sleep(0.1)
    raise AssertionError(f"still refused: {answer.text}")


def _output(events: list[Event]) -> str:
    return "".join(event.data["text"] for event in events if event.type == "output")


async def _running(count: int, *argv: str) -> bool:
    """Whether `count` processes run `argv`, waiting a generous while for them to start or be reaped."""
    for _ in range(200):
        if len(running(*argv)) == count:
            return True
        await asyncio.sleep(0.05)
    return False


async def _new(client: httpx.AsyncClient) -> int:
    return int((await client.post("/projects", json={"name": "terminal", "template": "blank"})).json()["id"])


async def test_output_streams_while_the_command_runs_and_leaving_kills_all_of_it(client: httpx.AsyncClient) -> None:
    project_id = await _new(client)
    marker = "4343.25"
    command = f"(sleep {marker} &); echo started; echo kept > written.txt; sleep {marker}"
    async with client.stream("POST", f"/projects/{project_id}/commands", json={"command": command}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events: AsyncIterator[Event] = read_events(response)
        async with asyncio.timeout(60):
            first = await anext(events)
        assert (first.id, first.raw) == (1, {"type": "output", "seq": 1, "data": {"text": "started\n"}})
        # The command is still running: its output came as it was printed, not at the end.
        assert await _running(2, "sleep", marker)
    assert await _running(0, "sleep", marker), "no process of the command outlives its client"

    files = (await client.get(f"/projects/{project_id}/files")).json()
    assert [f["path"] for f in files] == ["README.md"], "a stopped command's files are dropped"
    again = await _run_once_free(client, project_id, "echo free")
    assert _output(again) == "free\n", "the project's place was freed"


async def test_the_files_a_command_changes_are_saved_like_edits(client: httpx.AsyncClient) -> None:
    project_id = await _new(client)
    for path in ("keep.txt", "old.txt"):
        await client.put(f"/projects/{project_id}/files/{path}", json={"content": f"{path}\n"})
    before = (await client.get(f"/projects/{project_id}/history")).json()

    events = await _run(client, project_id, "printf 'made\\n' > made.txt; rm old.txt; echo more >> keep.txt; exit 3")

    end = events[-1]
    assert end.type == "end"
    assert end.data == {
        "exit_code": 3,
        "stopped": None,
        "summary": "Exit code 3",
        "changes": [
            {"path": "keep.txt", "change_type": "modified"},
            {"path": "made.txt", "change_type": "created"},
            {"path": "old.txt", "change_type": "deleted"},
        ],
        "refused": [],
    }
    read = await client.get(f"/projects/{project_id}/files/keep.txt")
    assert read.json()["content"] == "keep.txt\nmore\n"
    assert (await client.get(f"/projects/{project_id}/files/old.txt")).status_code == 404
    history = (await client.get(f"/projects/{project_id}/history")).json()
    assert len(history) == len(before) + 1
    assert history[0]["kind"] == "edits", "committed like manual edits, not as a run's"
    assert sorted((f["path"], f["change_type"]) for f in history[0]["files"]) == [
        ("keep.txt", "modified"),
        ("made.txt", "created"),
        ("old.txt", "deleted"),
    ]
    assert (await client.get(f"/projects/{project_id}/changes")).json() == [], "no run's code changes"


async def test_a_command_cannot_write_outside_the_project_or_reach_anything(
    client: httpx.AsyncClient, scripted_server: Server
) -> None:
    project_id = await _new(client)
    probe = (
        "import socket\n"
        f"for host, port in (('127.0.0.1', {scripted_server.port}), ('1.1.1.1', 80), ('example.com', 80)):\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3)\n"
        "        print('reached', host)\n"
        "    except OSError as error:\n"
        "        print('refused', host, type(error).__name__)\n"
    )
    await client.put(f"/projects/{project_id}/files/probe.py", json={"content": probe})
    escape = scripted_server.data_dir / "escaped.txt"
    command = (
        f"echo pwned > {escape}; echo pwned > /usr/tandem-pwned; echo pwned > /etc/tandem-pwned; "
        "echo pwned > ../escaped.txt; ls /root /home 2>&1 | head -3; python3 probe.py"
    )

    output = _output(await _run(client, project_id, command))

    for path in (escape, Path("/usr/tandem-pwned"), Path("/etc/tandem-pwned")):
        assert not path.exists(), f"{path} was written from the sandbox"
    assert "Read-only file system" in output
    assert "reached" not in output, output
    # Its own loopback, not the server's: Tandem's API is not there.
    assert "refused 127.0.0.1 ConnectionRefusedError" in output
    assert "refused 1.1.1.1" in output
    assert "refused example.com" in output
    files = {f["path"] for f in (await client.get(f"/projects/{project_id}/files")).json()}
    assert files == {"README.md", "probe.py"}


async def test_one_command_at_a_time_and_none_while_a_run_works(client: httpx.AsyncClient) -> None:
    project_id = await _new(client)
    async with client.stream("POST", f"/projects/{project_id}/commands", json={"command": "echo a; sleep 60"}) as first:
        events = read_events(first)
        await anext(events)
        second = await client.post(f"/projects/{project_id}/commands", json={"command": "echo b"})
        assert second.status_code == 409
        assert second.json()["code"] == "busy"
        assert "already running" in second.json()["message"]

    message = {"message": "[scripted pace=0.5 repeat=3] take your time"}
    async with client.stream("POST", f"/chat/{project_id}/stream", json=message) as run:
        start = await anext(read_events(run))
        refused = await client.post(f"/projects/{project_id}/commands", json={"command": "echo c"})
        assert refused.status_code == 409
        assert start.data["run_id"] in refused.json()["message"]
        await client.post(f"/runs/{start.data['run_id']}/cancel")


async def test_one_user_runs_at_most_so_many_commands_at_once(start_server: ServerFactory) -> None:
    server = start_server(TANDEM_MODEL="scripted", TANDEM_MAX_COMMANDS_PER_USER="1")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        first, second = await _new(client), await _new(client)
        async with client.stream("POST", f"/projects/{first}/commands", json={"command": "echo a; sleep 60"}) as held:
            events = read_events(held)  # kept: a dropped iterator closes the response, which stops the command
            await anext(events)
            refused = await client.post(f"/projects/{second}/commands", json={"command": "echo b"})
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "10"
            assert refused.json()["code"] == "rate_limited"
            assert "TANDEM_MAX_COMMANDS_PER_USER" in refused.json()["message"]
        assert _output(await _run_once_free(client, second, "echo b")) == "b\n", "a command that ends frees its place"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"command": ""}, "command"), ({"command": "x" * 10_001}, "command"), ({}, "command"), ({"command": "a\0"}, "")],
)
async def test_bad_commands_are_refused_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    project_id = await _new(client)
    response = await client.post(f"/projects/{project_id}/commands", json=body)
    assert response.status_code == 422
    assert field in json.dumps(response.json())


async def test_without_a_sandbox_commands_are_refused_saying_why(start_server: ServerFactory) -> None:
    server = start_server(TANDEM_MODEL="scripted", TANDEM_COMMAND_SANDBOX="off")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        project_id = await _new(client)
        response = await client.post(f"/projects/{project_id}/commands", json={"command": "echo hi"})
    assert response.status_code == 503
    assert response.json() == {
        "code": "sandbox_unavailable",
        "message": "commands cannot run on this server: commands are turned off (TANDEM_COMMAND_SANDBOX=off)",
    }
