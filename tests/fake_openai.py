"""A small OpenAI-compatible chat-completions server for tests: streamed chunks, tool-call deltas."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fake_models import Script, agent_of, hang_until_abandoned, next_reply, pieces, serve


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def build_app(script: Script) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        script.requests.append(body)
        if script.fail_status is not None:
            return JSONResponse(
                {"error": {"message": script.fail_message, "type": "server_error"}}, status_code=script.fail_status
            )
        agent = agent_of({t["function"]["name"] for t in body.get("tools", [])})
        if agent == script.hang:
            await hang_until_abandoned(request, script)
            return Response(status_code=499)
        messages = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        reply = next_reply(agent, [m["content"] for m in messages[last_user:] if m["role"] == "tool"], script)
        text, call = reply.text, reply.call
        call_id = f"call_{len(script.requests)}"
        usage = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if call is not None:
                message["tool_calls"] = [
                    {"id": call_id, "type": "function", "function": {"name": call[0], "arguments": call[1]}}
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
                for piece in pieces(text):
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
                                "function": {"name": call[0], "arguments": ""},
                            }
                        ]
                    }
                )
                for piece in pieces(call[1]):
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


@contextmanager
def fake_openai(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yields the base URL for `OPENAI_BASE_URL`."""
    with serve(build_app(script)) as url:
        yield f"{url}/v1"


def openai_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a Tandem server whose agents use the fake at `url`."""
    return {"TANDEM_MODEL": "openai:fake-model", "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-test-secret", **extra}
