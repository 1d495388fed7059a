"""The agents' search_files with a catastrophic pattern, on a real server: the server keeps serving,
and the search budget, the run's wall-clock limit and cancel each end the search."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.conftest import ServerFactory
from tests.fake_openai import Script, openai_env
from tests.support import Event, Server, read_events, searching

# Backtracking `re` needs about 2**40 steps to fail `(a+)+$` on this line: it never finishes in a test.
EVIL_LINE = "a" * 40 + "!"
CATASTROPHIC = ("search_files", {"pattern": "(a+)+$"})


async def chat(server: Server, message: str = "find it") -> AsyncIterator[tuple[httpx.AsyncClient, Event]]:
    """A run on a new project holding `evil.txt`: yields each event with a client for side requests."""
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        project = (await client.post("/projects", json={"name": "p", "template": "blank"})).json()
        put = await client.put(f"/projects/{project['id']}/files/evil.txt", json={"content": f"{EVIL_LINE}\n"})
        assert put.status_code == 200
        async with client.stream("POST", f"/chat/{project['id']}/stream", json={"message": message}) as response:
            assert response.status_code == 200
            async for event in read_events(response):
                yield client, event


def is_search_call(event: Event) -> bool:
    return event.type == "agent_interaction" and event.data["tool_name"] == "search_files"


def server_pid(server: Server) -> int:
    assert server.process is not None
    return server.process.pid


async def test_the_server_serves_and_cancel_ends_the_run_during_a_catastrophic_search(
    start_server: ServerFactory, openai_url: str, script: Script
) -> None:
    server = start_server(**openai_env(openai_url, TANDEM_LIMIT_SEARCH_SECONDS="60"))
    script.planner_calls = [CATASTROPHIC]
    events: list[Event] = []
    async for client, event in chat(server):
        events.append(event)
        if is_search_call(event) and event.data["message_type"] == "tool_call":
            assert await searching(server_pid(server), expected=True)
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/projects")).status_code == 200
            cancel = await client.post(f"/runs/{event.raw['run_id']}/cancel")
            assert cancel.status_code == 202
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "cancelled"
    assert not any(is_search_call(e) and e.data["message_type"] == "tool_response" for e in events)
    assert await searching(server_pid(server), expected=False), "the cancelled search's process was killed"
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        assert (await client.get("/health")).status_code == 200
        run = (await client.get(f"/runs/{events[0].raw['run_id']}")).json()
    assert run["status"] == "cancelled"


async def test_a_search_over_its_budget_is_a_tool_error_and_the_run_goes_on(
    start_server: ServerFactory, openai_url: str, script: Script
) -> None:
    server = start_server(**openai_env(openai_url, TANDEM_LIMIT_SEARCH_SECONDS="1"))
    script.planner_calls = [CATASTROPHIC, ("search_files", {"pattern": r"a+!$"})]
    events = [event async for _, event in chat(server)]
    assert events[-1].type == "complete", events[-1]
    results = [e.data["content"] for e in events if is_search_call(e) and e.data["message_type"] == "tool_response"]
    assert len(results) == 2
    assert "Error: search took longer than 1 s (TANDEM_LIMIT_SEARCH_SECONDS)" in results[0]
    assert results[1] == f"evil.txt:1: {EVIL_LINE}", "the next search works"
    seen_by_model = [m["content"] for r in script.requests for m in r["messages"] if m["role"] == "tool"]
    assert any("TANDEM_LIMIT_SEARCH_SECONDS" in content for content in seen_by_model), "the agent reads why"
    assert await searching(server_pid(server), expected=False)


async def test_the_wall_clock_limit_ends_a_run_stuck_in_a_search(
    start_server: ServerFactory, openai_url: str, script: Script
) -> None:
    server = start_server(**openai_env(openai_url, TANDEM_LIMIT_WALL_SECONDS="3", TANDEM_LIMIT_SEARCH_SECONDS="60"))
    script.planner_calls = [CATASTROPHIC]
    events = [event async for _, event in chat(server)]
    assert any(is_search_call(e) for e in events), "the run reached the search"
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "limit_exceeded"
    assert await searching(server_pid(server), expected=False)
