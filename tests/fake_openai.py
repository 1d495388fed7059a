"""A small OpenAI-compatible chat-completions server for tests: streamed chunks, tool-call deltas.

It plays Planner and Coder by looking at the tools each request offers, so Tandem's real OpenAI
provider path runs end to end on loopback.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support import free_port


@dataclass
class Script:
    coder_writes: list[tuple[str, str]] = field(default_factory=lambda: [("hello.txt", "hello\n")])
    # Tool calls (name, arguments) the Planner makes, one per request, before it hands off.
    planner_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    chunk_delay: float = 0.0
    fail_status: int | None = None
    fail_message: str = "fake server exploded"
    requests: list[dict[str, Any]] = field(default_factory=list)


def _reply(body: dict[str, Any], script: Script) -> tuple[str | None, dict[str, Any] | None]:
    """The text or the tool call (name, arguments) this request gets."""
    tools = {t["function"]["name"] for t in body.get("tools", [])}
    messages = body["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    results = [m for m in messages[last_user:] if m["role"] == "tool"]
    if "hand_off_to_coder" in tools:
        if len(results) < len(script.planner_calls):
            name, arguments = script.planner_calls[len(results)]
            return None, {"name": name, "arguments": arguments}
        if len(results) == len(script.planner_calls):
            return None, {"name": "hand_off_to_coder", "arguments": {"plan": "Write hello.txt"}}
        return f"All done. Coder said: {results[-1]['content']}", None
    if len(results) < len(script.coder_writes):
        path, content = script.coder_writes[len(results)]
        return None, {"name": "write_file", "arguments": {"path": path, "content": content}}
    return "I wrote the files.", None


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def build_app(script: Script) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        script.requests.append(body)
        if script.fail_status is not None:
            return JSONResponse(
                {"error": {"message": script.fail_message, "type": "server_error"}}, status_code=script.fail_status
            )
        text, call = _reply(body, script)
        call_id = f"call_{len(script.requests)}"
        usage = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if call is not None:
                arguments = json.dumps(call["arguments"])
                message["tool_calls"] = [
                    {"id": call_id, "type": "function", "function": {"name": call["name"], "arguments": arguments}}
                ]
            return JSONResponse(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": "fake-model",
                    "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}],
                    "usage": usage,
                }
            )

        async def stream() -> AsyncIterator[bytes]:
            yield _chunk({"role": "assistant", "content": ""})
            if text is not None:
                for piece in _pieces(text):
                    await asyncio.sleep(script.chunk_delay)
                    yield _chunk({"content": piece})
            if call is not None:
                yield _chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": call["name"], "arguments": ""},
                            }
                        ]
                    }
                )
                for piece in _pieces(json.dumps(call["arguments"])):
                    await asyncio.sleep(script.chunk_delay)
                    yield _chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            yield _chunk({}, finish="tool_calls" if call else "stop")
            final = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "fake-model",
                "choices": [],
                "usage": usage,
            }
            yield f"data: {json.dumps(final)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def openai_env(url: str, **extra: str) -> dict[str, str]:
    """A Tandem server's environment for the fake server at `url`."""
    return {"TANDEM_MODEL": "openai:fake-model", "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-test-secret", **extra}


@contextmanager
def fake_openai(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yields the base URL for `OPENAI_BASE_URL`."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(script), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
