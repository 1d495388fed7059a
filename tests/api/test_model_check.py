"""The model check (`POST /api/v1/models/check`, `tandem models check`) against the fake OpenAI-compatible
server in its quirk modes: plain-words steps, each failure with its fix, kept in the database, and used
before a process's first run to choose how runs talk to the model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Tandem
from tests.api.test_model_quirks import completed, run, system_thoughts
from tests.fake_models import Script
from tests.fake_openai import openai_env
from tests.support import Server, free_port

# Each test starts its own server, which a loaded machine may take a minute to start.
pytestmark = pytest.mark.timeout(360)


async def _check(server: Server) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=120) as client:
        response = await client.post("/models/check")
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def _steps(check: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in check["steps"]}


async def test_a_working_server_passes_every_step(tandem: Tandem, script: Script) -> None:
    script.context_window = 8192
    [check] = await _check(tandem())
    assert check["model"] == "openai:fake-model"
    assert check["ok"] is True
    assert check["streaming"] is True
    assert check["context_window"] == 8192
    steps = _steps(check)
    assert [s["ok"] for s in check["steps"]] == [True] * 7
    assert steps["context_window"]["detail"] == "The context window is 8,192 tokens."
    assert all(s["fix"] is None for s in check["steps"])


async def test_a_server_that_cannot_stream_tool_calls_works_non_streamed(tandem: Tandem, script: Script) -> None:
    script.quirks = {"stream_tools_500"}
    [check] = await _check(tandem())
    assert check["ok"] is True, "streaming is optional"
    assert check["streaming"] is False
    streamed = _steps(check)["streamed_tool_call"]
    assert streamed["ok"] is False
    assert "Runs use non-streamed requests with this model" in streamed["detail"]
    assert _steps(check)["context_window"] == {
        "name": "context_window",
        "ok": None,
        "detail": "The server does not report its context window.",
        "fix": None,
    }


async def test_null_content_is_found_and_adapted_to(tandem: Tandem, script: Script) -> None:
    script.quirks = {"null_content_500"}
    [check] = await _check(tandem())
    assert check["ok"] is True
    assert check["null_content_rejected"] is True
    assert "empty text instead of null" in _steps(check)["tool_result"]["detail"]


async def test_a_model_without_tool_support_fails_with_its_fix(tandem: Tandem, script: Script) -> None:
    script.quirks = {"no_tools"}
    [check] = await _check(tandem())
    assert check["ok"] is False
    steps = _steps(check)
    assert steps["text"]["ok"] is True
    assert steps["tool_call"]["ok"] is False
    assert steps["tool_call"]["detail"].startswith("The model cannot call tools")
    assert "Choose a model with tool support" in steps["tool_call"]["fix"]
    assert steps["streamed_tool_call"]["ok"] is None


async def test_a_wrong_key_fails_with_its_fix(tandem: Tandem, script: Script) -> None:
    script.api_key = "sk-the-right-one"
    [check] = await _check(tandem())
    steps = _steps(check)
    assert check["ok"] is False
    assert steps["reachable"]["ok"] is True
    assert steps["auth"]["ok"] is False
    assert steps["auth"]["fix"].startswith("The model server rejected the API key. Set the right key")
    assert "sk-test-secret" not in str(check)


async def test_a_dead_base_url_fails_with_its_fix(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path / "data", env=openai_env(f"http://127.0.0.1:{free_port()}/v1")).start()
    try:
        [check] = await _check(server)
    finally:
        server.stop()
    steps = _steps(check)
    assert check["ok"] is False
    assert steps["reachable"]["ok"] is False
    assert "cannot be reached" in steps["reachable"]["fix"]
    assert steps["auth"]["ok"] is None


async def test_the_first_run_uses_the_stored_check(tandem: Tandem, script: Script) -> None:
    script.quirks = {"stream_tools_empty"}
    await _check(tandem())
    checked = len(script.requests)
    events = await run(tandem(TANDEM_MODEL_CHECK_ON_FIRST_USE="true"))
    completed(events)
    assert system_thoughts(events) == [], "the stored check said: no streamed tool calls"
    assert not any(r.get("stream") for r in script.requests[checked:]), "no request of the run is streamed"


async def test_the_first_run_checks_an_unchecked_model(tandem: Tandem, script: Script) -> None:
    script.quirks = {"stream_tools_empty"}
    events = await run(tandem(TANDEM_MODEL_CHECK_ON_FIRST_USE="true"))
    completed(events)
    assert system_thoughts(events) == []
    assert script.requests[0]["messages"][0]["content"] == "Reply with one word: ready", "the check came first"


def test_the_cli_prints_plain_words_and_fails_on_a_broken_model(
    openai_url: str, script: Script, tmp_path: Path
) -> None:
    script.quirks = {"no_tools"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "OPENAI_"))}
    env.update(openai_env(openai_url), TANDEM_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "tandem", "models", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "openai:fake-model" in done.stdout
    assert "does not work" in done.stdout
    assert "FAIL The model cannot call tools" in done.stdout
    assert "Fix: The model server says this model cannot call tools" in done.stdout
