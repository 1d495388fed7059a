"""What the model is given across a session's turns, and undoing a run of several changes, with the
fake OpenAI-compatible server (tests/fake_openai.py) playing both agents and recording every request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_openai_provider import openai_env
from tests.conftest import ServerFactory
from tests.fake_openai import Script, fake_openai

Api = tuple[httpx.AsyncClient, Script]


@pytest.fixture
async def api(start_server: ServerFactory) -> AsyncIterator[Api]:
    script = Script()
    with fake_openai(script) as url:
        server = start_server(**openai_env(url))
        async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
            yield client, script


async def new_project(client: httpx.AsyncClient) -> int:
    return int((await client.post("/projects", json={"name": "p", "template": "blank"})).json()["id"])


async def chat(client: httpx.AsyncClient, project_id: int, message: str, session_id: int | None = None) -> Any:
    response = await client.post(f"/chat/{project_id}", json={"message": message, "session_id": session_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed", body
    return body


def conversation(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The user and assistant turns a model request carries (tool traffic left out)."""
    return [
        (m["role"], m["content"]) for m in request["messages"] if m["role"] in ("user", "assistant") and m["content"]
    ]


async def test_the_planner_is_given_the_earlier_turns_of_its_session(api: Api) -> None:
    client, script = api
    project_id = await new_project(client)
    first = await chat(client, project_id, "make a greeting file")
    asked = len(script.requests)

    await chat(client, project_id, "now make it louder", session_id=first["session_id"])

    planner_first_request = script.requests[asked]
    turns = conversation(planner_first_request)
    assert turns[:2] == [("user", "make a greeting file"), ("assistant", first["message"]["content"])]
    assert turns[2][0] == "user"
    assert turns[2][1].startswith("now make it louder")

    asked = len(script.requests)
    await chat(client, project_id, "a new conversation")
    [(role, text)] = conversation(script.requests[asked])
    assert role == "user"
    assert text.startswith("a new conversation"), "a new session starts afresh"


async def test_reverting_a_run_undoes_all_its_changes_newest_first(api: Api) -> None:
    client, script = api
    project_id = await new_project(client)
    files = f"/projects/{project_id}/files"
    script.coder_writes = [
        ("notes.txt", "one\n"),
        ("README.md", "# Changed\n"),
        ("notes.txt", "one\ntwo\n"),
        ("README.md", "# Changed again\n"),
    ]
    body = await chat(client, project_id, "several edits")
    assert [(c["path"], c["change_type"]) for c in body["code_changes"]] == [
        ("notes.txt", "created"),
        ("README.md", "modified"),
        ("notes.txt", "modified"),
        ("README.md", "modified"),
    ]

    reverted = await client.post(f"/runs/{body['run_id']}/revert")

    assert reverted.status_code == 200, reverted.text
    assert [c["id"] for c in reverted.json()] == [c["id"] for c in body["code_changes"]]
    assert all(c["reverted"] for c in reverted.json())
    assert (await client.get(f"{files}/notes.txt")).status_code == 404
    assert (await client.get(f"{files}/README.md")).json()["content"] == "# New project\n"
