"""What the fake model servers (`fake_openai`, `fake_anthropic`) answer, and serving them on loopback.

A fake plays Planner and Coder by looking at the tools each request offers, and picks its next step
from the tool results since the user's prompt, so Tandem's real provider paths run end to end.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request

from tests.support import Server, free_port

Agent = Literal["Planner", "Coder"]

# How a real OpenAI-compatible server misbehaves; `fake_openai` plays each (see its docstring for the source).
Quirk = Literal[
    "stream_tools_empty",  # llama-cpp-python, chatml-function-calling: a streamed tool call is an empty stream
    "stream_tools_500",  # llama-server (b4xxx): 500 "Cannot use tools with stream"
    "null_content_500",  # llama-cpp-python: 500 when an assistant message with tool_calls has `content: null`
    "no_tool_call_ids",  # tool calls without an `id` (llama-server sent "" for a while, ggml-org/llama.cpp#12279)
    "no_tools",  # Ollama with a model without tool support: 400 "... does not support tools"
    "rate_limited",  # 429 with Retry-After, `transient` times
    "bad_gateway",  # 502 from a proxy in front of the server, `transient` times
    "unavailable",  # 503 (model loading), `transient` times
    "drop_stream",  # the connection closes mid-answer, after some text, `transient` times
]


@dataclass
class Script:
    coder_writes: list[tuple[str, str]] = field(default_factory=lambda: [("hello.txt", "hello\n")])
    # (tool name, raw JSON arguments) the Coder sends, one per request, before its writes: malformed calls.
    coder_raw_calls: list[tuple[str, str]] = field(default_factory=list)
    # Tool calls (name, arguments) the Planner makes, one per request, before it hands off.
    planner_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    chunk_delay: float = 0.0
    fail_status: int | None = None
    fail_message: str = "fake server exploded"
    # Anthropic only: an `error` event of this type in the middle of the first streamed response.
    stream_error: str | None = None
    # This agent's requests are accepted and never answered (until the client gives up on them).
    hang: Agent | None = None
    # This agent's requests wait until `release` is set (a test changes something mid-run, then lets it go on).
    hold: Agent | None = None
    release: threading.Event = field(default_factory=threading.Event)
    quirks: set[Quirk] = field(default_factory=set)
    transient: int = 1  # how many requests a transient quirk (429, 502, 503, dropped stream) fails
    retry_after: str | None = "1"  # the Retry-After header of a 429
    api_key: str | None = None  # when set, any other bearer token gets 401
    context_window: int | None = None  # reported at /props (llama-server) when set
    requests: list[dict[str, Any]] = field(default_factory=list)
    seen: list[list[str]] = field(default_factory=list)  # the tool results each answered request carried
    abandoned: int = 0  # hung requests the client closed
    transient_failed: int = 0  # requests a transient quirk has failed so far

    def reset(self) -> None:
        """Back to the defaults, for the next test on a shared fake."""
        for f in fields(self):
            setattr(self, f.name, getattr(Script(), f.name))


@dataclass(frozen=True)
class Reply:
    text: str | None = None
    call: tuple[str, str] | None = None  # tool name, arguments as a JSON string


def agent_of(tools: set[str]) -> Agent:
    return "Planner" if "hand_off_to_coder" in tools else "Coder"


def next_reply(agent: Agent, results: list[str], script: Script) -> Reply:
    """The step `agent` takes after `results`, the tool results it got since the user's prompt."""
    script.seen.append(results)
    if agent == "Planner":
        if len(results) < len(script.planner_calls):
            name, arguments = script.planner_calls[len(results)]
            return Reply(call=(name, json.dumps(arguments)))
        if len(results) == len(script.planner_calls):
            return Reply(call=("hand_off_to_coder", json.dumps({"plan": "Write hello.txt"})))
        return Reply(text=f"All done. Coder said: {results[-1]}")
    calls = [
        *script.coder_raw_calls,
        *(("write_file", json.dumps({"path": path, "content": content})) for path, content in script.coder_writes),
    ]
    if len(results) < len(calls):
        return Reply(call=calls[len(results)])
    return Reply(text="I wrote the files.")


async def hang_until_abandoned(request: Request, script: Script) -> None:
    """Accept the request and never answer it; returns once the client has closed the connection."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    script.abandoned += 1


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve `app` on a free loopback port; yields `http://127.0.0.1:<port>`."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


Fake = Callable[[Script], AbstractContextManager[str]]
Env = Callable[..., dict[str, str]]  # the fake's URL and Tandem settings -> a Tandem server's environment


@contextmanager
def tandem_on_fake(fake: Fake, env: Env, data_dir: Path, **settings: str) -> Iterator[tuple[Script, Server]]:
    """A fake model server and a Tandem server using it, for tests that share them (`Script.reset`)."""
    script = Script()
    with fake(script) as url:
        server = Server(data_dir=data_dir, env=env(url, **settings)).start()
        try:
            yield script, server
        finally:
            server.stop()
