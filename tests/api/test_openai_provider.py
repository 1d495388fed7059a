"""The real OpenAI provider path, against an OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend, ServerFactory
from tests.fake_models import Script
from tests.fake_openai import openai_env
from tests.support import Event, read_events, run_chat

UNSAFE = ["../escape.txt", "/etc/passwd", "a/../../x", "a\\..\\x", "a\x00b", "%2e%2e/x"]


@pytest.fixture
async def api(start_server: ServerFactory, openai_url: str) -> AsyncIterator[httpx.AsyncClient]:
    server = start_server(**openai_env(openai_url))
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        yield client


async def test_openai_compatible_server_end_to_end(api: httpx.AsyncClient, script: Script) -> None:
    script.coder_writes = [(path, "x") for path in UNSAFE] + [("hello.txt", "hello\n")]
    project_id, events = await run_chat(api)

    assert events[-1].type == "complete", events[-1]
    assert all(request["stream"] for request in script.requests)
    deltas = [e.data for e in events if e.type == "agent_delta"]
    assert {d["agent_name"] for d in deltas} == {"Planner", "Coder"}
    calls = [e.data for e in events if e.type == "agent_interaction" and e.data["message_type"] == "tool_call"]
    assert [c["tool_name"] for c in calls] == ["hand_off_to_coder", *["write_file"] * (len(UNSAFE) + 1)]
    assert calls[1]["agent_name"] == "Coder"
    assert calls[-1]["tool_arguments"] == {"path": "hello.txt", "content": "hello\n"}

    responses = {
        e.data["tool_call_id"]: e.data["content"]
        for e in events
        if e.type == "agent_interaction" and e.data["message_type"] == "tool_response"
    }
    for call in calls[1:-1]:
        assert "Error" in responses[call["tool_call_id"]], "an unsafe path is a tool error the agent reads"
    assert responses[calls[-1]["tool_call_id"]] == "Wrote hello.txt (6 bytes)."

    files = (await api.get(f"/projects/{project_id}/files")).json()
    assert sorted(f["path"] for f in files) == ["README.md", "hello.txt"], "nothing written outside the project"
    assert events[-1].data["message"]["content"].startswith("All done. Coder said: I wrote the files.")
    assert events[-1].data["usage"]["Planner"]["input_tokens"] == 22  # two requests × 11 prompt tokens
    assert [c["path"] for c in events[-1].data["code_changes"]] == ["hello.txt"]


async def test_api_key_never_appears_in_events_history_logs_or_database(
    api: httpx.AsyncClient, script: Script, tmp_path: Path, backend: Backend
) -> None:
    script.coder_writes = [("../bad", "x"), ("ok.txt", "fine")]
    _, events = await run_chat(api)
    assert events[-1].type == "complete"
    assert all("sk-test-secret" not in str(event.raw) for event in events)
    history = await api.get(f"/sessions/{events[0].data['session_id']}/messages")
    assert "sk-test-secret" not in history.text
    assert "sk-test-secret" not in (await api.get("/health")).text
    stored = [path for path in (tmp_path / "data").rglob("*") if path.is_file()]
    assert any(path.suffix == ".log" for path in stored)
    for path in stored:
        assert b"sk-test-secret" not in path.read_bytes(), path
    if "TANDEM_DATABASE_URL" in backend:
        database = backend["TANDEM_DATABASE_URL"].rsplit("/", 1)[1]
        pg_dump = await asyncio.create_subprocess_exec(
            "pg_dump", "-h", "127.0.0.1", "-U", "postgres", database, stdout=asyncio.subprocess.PIPE
        )
        dump, _ = await pg_dump.communicate()
        assert b"Wrote ok.txt" in dump, "the dump holds the run"
        assert b"sk-test-secret" not in dump
    else:
        assert any(path.name.startswith("tandem.db") for path in stored)


async def test_model_server_error_ends_the_run_with_model_error(api: httpx.AsyncClient, script: Script) -> None:
    script.fail_status = 400
    _, events = await run_chat(api)
    assert [e.type for e in events] == ["start", "error"]
    assert events[-1].data["code"] == "model_error"
    assert "fake server exploded" in events[-1].data["message"]
    history = (await api.get(f"/sessions/{events[0].data['session_id']}/messages")).json()
    assert history[0]["content"] == "write hello"
    assert history[1]["run_status"] == "failed"


async def test_model_error_bodies_are_redacted_and_capped(
    start_server: ServerFactory, openai_url: str, script: Script, tmp_path: Path
) -> None:
    key = "tandem-test-key-7f3a9c1e"  # not `sk-` shaped: only the configured key's own redaction hides it
    other_key, token = "sk-proj-Abc123def456GHI789", "opaque.token-value42"
    secrets = (key, other_key, token, "hunter2-the-password")
    script.fail_status = 401
    script.fail_message = (
        f"Incorrect API key provided: {key}. Sent: Authorization: Bearer {token}; other key {other_key}; "
        f'config {{"api_key": "{secrets[3]}"}}. ' + "details " * 1000
    )
    server = start_server(**openai_env(openai_url, OPENAI_API_KEY=key))
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        _, events = await run_chat(client)
        run = await client.get(f"/runs/{events[0].raw['run_id']}")
        history = await client.get(f"/sessions/{events[0].data['session_id']}/messages")
    error = events[-1].data
    assert error["code"] == "model_error"
    assert "Incorrect API key provided: [redacted]. Sent: Authorization: Bearer [redacted]" in error["message"]
    assert '"api_key": "[redacted]"' in error["message"]
    assert error["message"].endswith("more characters not shown]"), "a long body is cut"
    assert len(error["message"]) < 2_100
    assert run.json()["error_message"] == error["message"]
    stored = [path for path in (tmp_path / "data").rglob("*") if path.is_file()]
    assert any(path.suffix == ".log" for path in stored)
    for secret in secrets:
        assert all(secret not in str(event.raw) for event in events)
        assert secret not in run.text
        assert secret not in history.text
        for path in stored:
            assert secret.encode() not in path.read_bytes(), path


async def test_cancel_stops_model_requests(api: httpx.AsyncClient, script: Script) -> None:
    script.chunk_delay = 0.1
    project = (await api.post("/projects", json={"name": "p", "template": "blank"})).json()
    async with api.stream("POST", f"/chat/{project['id']}/stream", json={"message": "slow"}) as response:
        events: list[Event] = []
        async for event in read_events(response):
            events.append(event)
            if event.type == "agent_delta" and event.data["agent_name"] == "Coder":
                await api.post(f"/runs/{event.raw['run_id']}/cancel")
                requests_at_cancel = len(script.requests)
    assert events[-1].data["code"] == "cancelled"
    await asyncio.sleep(1.0)
    assert len(script.requests) == requests_at_cancel, "no model request after the cancel"


async def test_non_streaming_switch(start_server: ServerFactory, openai_url: str, script: Script) -> None:
    server = start_server(**openai_env(openai_url, TANDEM_MODEL_STREAMING="false"))
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        _, events = await run_chat(client)
    assert events[-1].type == "complete"
    assert not any(request.get("stream") for request in script.requests)
    assert not any(e.type == "agent_delta" for e in events), "events arrive whole"
    assert any(e.type == "agent_interaction" and e.data["agent_name"] == "Coder" for e in events)


async def test_model_not_configured(start_server: ServerFactory) -> None:
    server = start_server()
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        health = (await client.get("/health")).json()
        assert health["models"]["configured"] is False
        assert "/settings/models" in health["models"]["hint"]
        _, events = await run_chat(client)
    assert [e.type for e in events] == ["start", "error"]
    assert events[-1].data["code"] == "model_not_configured"
    assert "/settings/models" in events[-1].data["message"]


async def test_tool_output_is_truncated_for_the_model_only(
    start_server: ServerFactory, openai_url: str, script: Script
) -> None:
    server = start_server(**openai_env(openai_url, TANDEM_LIMIT_TOOL_OUTPUT_CHARS="100"))
    script.planner_calls = [("read_file", {"path": "big.txt"})]
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        project = (await client.post("/projects", json={"name": "p", "template": "blank"})).json()
        await client.put(f"/projects/{project['id']}/files/big.txt", json={"content": "0123456789" * 50})
        async with client.stream("POST", f"/chat/{project['id']}/stream", json={"message": "read"}) as response:
            events = [event async for event in read_events(response)]
    [read] = [
        e.data
        for e in events
        if e.type == "agent_interaction"
        and e.data["tool_name"] == "read_file"
        and e.data["message_type"] == "tool_response"
    ]
    assert read["content"] == "0123456789" * 50, "the stream and history get the full output"
    seen_by_model = [m["content"] for r in script.requests for m in r["messages"] if m["role"] == "tool"]
    assert any("output truncated: 400 more characters" in c and c.startswith("0123456789" * 10) for c in seen_by_model)


async def test_exceeding_a_limit_ends_the_run_with_limit_exceeded(start_server: ServerFactory, openai_url: str) -> None:
    server = start_server(**openai_env(openai_url, TANDEM_LIMIT_MODEL_REQUESTS="2"))
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        _, events = await run_chat(client)
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "limit_exceeded"
    assert any(e.type == "agent_interaction" for e in events), "work done before the limit is kept"
