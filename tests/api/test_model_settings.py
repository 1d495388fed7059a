"""The Models page's API (`GET`/`PUT /api/v1/models/settings`): models chosen in the UI, stored server-side with
the API key encrypted and write-only, environment variables winning where set, and a saved change reaching the
next run but never a running one."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Backend, ServerFactory
from tests.fake_models import Script
from tests.fake_openai import openai_env
from tests.support import Event, read_events, run_chat

KEY = "sk-saved-in-the-ui-0123456789-wxyz"
NO_MODEL_CHECK = {"TANDEM_MODEL_CHECK_ON_FIRST_USE": "false"}


def saved(openai_url: str, **fields: Any) -> dict[str, Any]:
    """A Models page form for the fake OpenAI-compatible server."""
    return {"provider": "openai-compatible", "base_url": openai_url, "planner_model": "fake-model", **fields}


async def test_models_saved_in_the_ui_run_and_the_key_is_write_only(
    start_server: ServerFactory, openai_url: str, script: Script, backend: Backend, tmp_path: Path
) -> None:
    script.api_key = KEY
    server = start_server(**NO_MODEL_CHECK)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as api:
        assert (await api.get("/health")).json()["models"]["configured"] is False
        before = (await api.get("/models/settings")).json()
        assert before["provider"] is None
        assert before["api_key"] == {"set": False, "last4": None, "readable": True}

        put = await api.put("/models/settings", json=saved(openai_url, api_key=KEY, limits={"tool_calls": 40}))
        assert put.status_code == 200, put.text
        view = (await api.get("/models/settings")).json()
        assert view == put.json()
        assert view["api_key"] == {"set": True, "last4": "wxyz", "readable": True}
        assert view["limits"]["tool_calls"] == 40
        assert view["environment"] == []
        health = (await api.get("/health")).json()["models"]
        assert (health["planner"], health["coder"], health["configured"]) == ("openai:fake-model",) * 2 + (True,)

        _, events = await run_chat(api)
        assert events[-1].type == "complete", events[-1]
        assert {r["model"] for r in script.requests} == {"fake-model"}, "the saved model and key were used"

        # Saving again without a key keeps the saved one.
        await api.put("/models/settings", json=saved(openai_url, coder_model="fake-coder"))
        assert (await api.get("/models/settings")).json()["api_key"]["last4"] == "wxyz"
        exported = [await api.get(path) for path in ("/models/settings", "/health", "/projects")]
        checked = await api.post("/models/check")
        assert checked.status_code == 200

    seen = "".join(r.text for r in [put, *exported, checked]) + "".join(str(e.data) for e in events)
    assert KEY not in seen
    key_file = server.data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    stored = b"".join(p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file() and p != key_file)
    assert KEY.encode() not in stored, "not in the database (SQLite) nor in the log"
    assert b"wxyz" not in stored, "not even its last characters"


async def test_the_environment_wins_and_the_api_says_which_fields_it_sets(
    start_server: ServerFactory, openai_url: str, script: Script
) -> None:
    server = start_server(**openai_env(openai_url, TANDEM_LIMIT_TOOL_CALLS="77"))
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as api:
        put = await api.put(
            "/models/settings",
            json=saved("http://127.0.0.1:9/v1", planner_model="saved-model", limits={"tool_calls": 5}),
        )
        assert put.status_code == 200, put.text
        view = put.json()
        assert view["planner_model"] == "saved-model", "what was saved is shown"
        assert view["limits"]["tool_calls"] == 77, "the limit in force is the environment's"
        fixed = {(f["field"], f["variable"]): f for f in view["environment"]}
        assert fixed[("planner_model", "TANDEM_MODEL")]["value"] == "openai:fake-model"
        assert fixed[("base_url", "OPENAI_BASE_URL")]["providers"] == ["openai-compatible", "openai"]
        assert fixed[("api_key", "OPENAI_API_KEY")]["value"] is None, "a key is never shown"
        assert ("limits.tool_calls", "TANDEM_LIMIT_TOOL_CALLS") in fixed
        _, events = await run_chat(api)
    assert events[-1].type == "complete", events[-1]
    assert {r["model"] for r in script.requests} == {"fake-model"}
    assert "sk-test-secret" not in put.text


BAD_INPUT = {
    "an invalid base URL": ({"base_url": "localhost:8080"}, "base_url", "http:// or https:// URL"),
    "a base URL with a password": ({"base_url": "http://me:pw@127.0.0.1/v1"}, "base_url", "API key field"),
    "a key with a line break": ({"api_key": "sk-abc\nsk-def"}, "api_key", "line break"),
    "an unknown provider": ({"provider": "openia"}, "provider", "openai-compatible"),
    "a model of 10 kB": ({"planner_model": "m" * 10_000}, "planner_model", "at most 256 characters"),
    "no base URL for an OpenAI-compatible server": ({"base_url": None}, "", "needs its base URL"),
    "a base URL for Anthropic": ({"provider": "anthropic"}, "", "takes no base URL"),
    "a limit below 1": ({"limits": {"model_requests": 0}}, "limits.model_requests", "greater than or equal to 1"),
}


async def test_bad_input_is_422_with_a_clear_message_and_changes_nothing(
    start_server: ServerFactory, openai_url: str
) -> None:
    server = start_server(**NO_MODEL_CHECK)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as api:
        assert (await api.put("/models/settings", json=saved(openai_url, api_key=KEY))).status_code == 200
        before = (await api.get("/models/settings")).json()
        for case, (change, where, said) in BAD_INPUT.items():
            response = await api.put("/models/settings", json=saved(openai_url, **change))
            assert response.status_code == 422, (case, response.text)
            error = response.json()
            assert error["code"] == "invalid_input", case
            assert error["message"].startswith(where), (case, error["message"])
            assert said in error["message"], (case, error["message"])
            assert "sk-abc" not in error["message"], "a rejected key is not echoed"
        assert (await api.get("/models/settings")).json() == before


async def _all(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


def _is_coder(request: dict[str, Any]) -> bool:
    return any(tool["function"]["name"] == "write_file" for tool in request.get("tools", []))


async def test_a_saved_change_reaches_the_next_run_never_a_running_one(
    start_server: ServerFactory, openai_url: str, script: Script
) -> None:
    server = start_server(**NO_MODEL_CHECK)
    script.hold = "Coder"
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as api:
        await api.put("/models/settings", json=saved(openai_url, planner_model="first-model"))
        project = (await api.post("/projects", json={"name": "p", "template": "blank"})).json()
        try:
            async with api.stream("POST", f"/chat/{project['id']}/stream", json={"message": "go"}) as response:
                reading = asyncio.create_task(_all(read_events(response)))
                while not any(_is_coder(r) for r in script.requests):
                    assert not reading.done(), "the run reaches the Coder, which waits for `release`"
                    await asyncio.sleep(0.05)
                changed = await api.put("/models/settings", json=saved(openai_url, planner_model="second-model"))
                assert changed.status_code == 200
                script.release.set()
                rest = await reading
        finally:
            script.release.set()
        assert rest[-1].type == "complete", rest[-1]
        assert {r["model"] for r in script.requests} == {"first-model"}, "the running run kept its model"

        script.requests.clear()
        _, events_after = await run_chat(api)
    assert events_after[-1].type == "complete"
    assert {r["model"] for r in script.requests} == {"second-model"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_key_saved_under_another_secret_key_is_reported_unreadable(
    start_server: ServerFactory, openai_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, **NO_MODEL_CHECK)
    async with httpx.AsyncClient(base_url=f"{first.url}/api/v1", timeout=60) as api:
        await api.put("/models/settings", json=saved(openai_url, api_key=KEY))
    first.stop()
    (data_dir / "secret.key").unlink()
    second = start_server(data_dir, **NO_MODEL_CHECK)
    async with httpx.AsyncClient(base_url=f"{second.url}/api/v1", timeout=60) as api:
        view = (await api.get("/models/settings")).json()
    assert view["api_key"] == {"set": True, "last4": None, "readable": False}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_ollama_model_takes_the_adapted_path(
    start_server: ServerFactory, openai_url: str, script: Script
) -> None:
    """Ollama speaks the same Chat Completions as llama.cpp: its models get the same quirk adaptations."""
    script.quirks = {"null_content_500", "no_tool_call_ids"}
    server = start_server(**NO_MODEL_CHECK)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as api:
        form = {"provider": "ollama", "base_url": openai_url, "planner_model": "qwen3"}
        assert (await api.put("/models/settings", json=form)).status_code == 200
        _, events = await run_chat(api)
    assert events[-1].type == "complete", events[-1]
    assert {r["model"] for r in script.requests} == {"qwen3"}
    thoughts = [e.data["content"] for e in events if e.type == "agent_interaction" and e.data["agent_name"] == "System"]
    assert any("rejected a tool-call message without text" in t for t in thoughts)
