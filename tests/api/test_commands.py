"""Commands the Coder runs, seen from a client: live output in the stream, files as changes, Stop
ends the command at once. Through the real OpenAI provider path, against a fake server on loopback."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.fake_models import Script
from tests.support import Event, Server, read_events, run_chat, running

pytestmark = pytest.mark.parametrize("served", ["openai"], indirect=True, scope="module")


def _command(command: str) -> tuple[str, str]:
    return ("run_command", json.dumps({"command": command}))


async def test_output_streams_live_and_the_files_a_command_writes_are_the_runs_changes(
    fake_api: httpx.AsyncClient, fake_script: Script
) -> None:
    health = (await fake_api.get("/health")).json()
    assert health["sandbox"]["available"] is True, health["sandbox"]
    assert "no network" in health["sandbox"]["detail"]
    fake_script.coder_writes = []
    fake_script.coder_raw_calls = [_command("echo building; printf 'made\\n' > made.txt; echo done")]

    project_id, events = await run_chat(fake_api)

    assert events[-1].type == "complete", events[-1]
    call = next(e.data for e in events if e.type == "agent_interaction" and e.data["tool_name"] == "run_command")
    outputs = [e.data for e in events if e.type == "agent_delta" and e.data["message_type"] == "tool_output"]
    assert {(d["agent_name"], d["tool_call_id"]) for d in outputs} == {("Coder", call["tool_call_id"])}
    assert "".join(d["delta"] for d in outputs) == "building\ndone\n"
    response = next(
        e.data for e in events if e.type == "agent_interaction" and e.data["message_type"] == "tool_response"
    )
    assert response["content"] == "building\ndone\nExit code 0\nFiles changed: made.txt (created)"
    assert [(e.data["path"], e.data["change_type"]) for e in events if e.type == "file_changed"] == [
        ("made.txt", "created")
    ]
    [change] = events[-1].data["code_changes"]
    assert change["path"] == "made.txt"
    assert "+made" in change["diff"]
    assert (await fake_api.get(f"/projects/{project_id}/files/made.txt")).json()["content"] == "made\n"


async def test_stop_kills_a_running_command_and_its_children(
    fake_api: httpx.AsyncClient, fake_script: Script, served: tuple[Script, Server]
) -> None:
    marker = "4243.5"
    fake_script.coder_writes = []
    fake_script.coder_raw_calls = [_command(f"(sleep {marker} &); echo started; sleep {marker}")]
    project = (await fake_api.post("/projects", json={"name": "p", "template": "blank"})).json()
    live: list[Event] = []
    async with fake_api.stream("POST", f"/chat/{project['id']}/stream", json={"message": "go"}) as response:
        async for event in read_events(response):
            live.append(event)
            if event.type == "agent_delta" and event.data["message_type"] == "tool_output":
                assert len(running("sleep", marker)) >= 1
                assert (await fake_api.post(f"/runs/{event.raw['run_id']}/cancel")).status_code == 202
    assert live[-1].type == "error"
    assert live[-1].data["code"] == "cancelled"
    for _ in range(100):  # the run has ended; the kernel may still be reaping the namespace
        if len(running("sleep", marker)) == 0:
            break
        await asyncio.sleep(0.05)
    assert len(running("sleep", marker)) == 0, "no process of the command outlives Stop"
