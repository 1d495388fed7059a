"""A small OpenAI-compatible chat-completions server for tests: streamed chunks, tool-call deltas.

`Script.quirks` switches on the ways real servers misbehave, each as the real server does it:
- `stream_tools_empty`: llama-cpp-python's `chatml-function-calling` handler raises "Automatic streaming tool
  choice is not supported" inside the SSE generator, so a streamed tool call is a 200 stream with no chunk.
- `stream_tools_500`: llama-server's `oaicompat_completion_params_parse` throws "Cannot use tools with stream",
  a 500 `server_error`.
- `null_content_500`: llama-cpp-python's ChatML template concatenates `message['content']`, so an assistant
  message with `tool_calls` and `content: null` is a 500 (TypeError) — an empty string is fine.
- `no_tool_call_ids`: tool calls come without an `id`.
- `no_tools`: Ollama, for a model whose template has no tools: 400 "<model> does not support tools".
- `rate_limited` / `bad_gateway` / `unavailable`: 429 with `Retry-After`, a proxy's 502 HTML page, a 503 while
  the model loads; each for `Script.transient` requests, then normal answers.
- `drop_stream`: the connection closes mid-answer (no final chunk, no `[DONE]`) for `Script.transient` streams.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, get_args

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fake_models import Quirk, Script, agent_of, hang_until_abandoned, next_reply, pieces, serve


def _chunk(delta: dict[str, Any], finish: str | None = None, *, model: str) -> bytes:
    payload = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def _error(status: int, message: str, kind: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, **extra}}, status_code=status)


class _Dropped(Exception):
    """Raised inside a streamed body: uvicorn then closes the connection without ending the chunked body."""


async def _drop() -> None:
    # uvicorn aborts the connection, discarding what it has not sent yet: let the chunks go out first, as they
    # would from a real server whose stream breaks a while into the answer.
    await asyncio.sleep(0.5)
    raise _Dropped


def _transient(script: Script, quirk: Quirk) -> bool:
    """Whether this request fails with `quirk`: the first `Script.transient` requests do."""
    if quirk not in script.quirks or script.transient_failed >= script.transient:
        return False
    script.transient_failed += 1
    return True


def _refusal(script: Script, body: dict[str, Any], request: Request) -> Response | None:
    """The error answer a quirk gives this request, if any."""
    if script.api_key is not None and request.headers.get("authorization") != f"Bearer {script.api_key}":
        return _error(401, "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key")
    tools = body.get("tools") or []
    if tools and "no_tools" in script.quirks:
        return _error(400, f"registry.ollama.ai/library/{body['model']} does not support tools", "api_error")
    if tools and body.get("stream") and "stream_tools_500" in script.quirks:
        return _error(500, "Cannot use tools with stream", "server_error", code=500)
    if "null_content_500" in script.quirks and any(
        m["role"] == "assistant" and m.get("tool_calls") and m.get("content") is None for m in body["messages"]
    ):
        return _error(500, 'can only concatenate str (not "NoneType") to str', "internal_server_error")
    if _transient(script, "rate_limited"):
        headers = {"retry-after": script.retry_after} if script.retry_after is not None else {}
        response = _error(429, "Rate limit reached for requests", "requests", code="rate_limit_exceeded")
        response.headers.update(headers)
        return response
    if _transient(script, "bad_gateway"):
        return HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502)
    if _transient(script, "unavailable"):
        return _error(503, "Loading model", "unavailable_error", code=503)
    return None


def _completion(message: dict[str, Any], finish: str, *, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
    }


def build_app(script: Script) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        script.requests.append(body)
        if script.fail_status is not None:
            return JSONResponse(
                {"error": {"message": script.fail_message, "type": "server_error"}}, status_code=script.fail_status
            )
        if (refusal := _refusal(script, body, request)) is not None:
            return refusal
        # Like vLLM and llama-server, answers name the model asked for (which prices them).
        chunk = functools.partial(_chunk, model=body["model"])
        completion = functools.partial(_completion, model=body["model"])
        agent = agent_of({t["function"]["name"] for t in body.get("tools", [])})
        if agent == script.hold:
            await asyncio.to_thread(script.release.wait)
        if agent == script.hang:
            await hang_until_abandoned(request, script)
            return Response(status_code=499)
        if not body.get("tools"):
            return JSONResponse(completion({"role": "assistant", "content": "ready"}, "stop"))
        messages = body["messages"]
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        reply = next_reply(agent, [m["content"] for m in messages[last_user:] if m["role"] == "tool"], script)
        text, call = reply.text, reply.call
        call_id: dict[str, str] = {} if "no_tool_call_ids" in script.quirks else {"id": f"call_{len(script.requests)}"}
        usage = completion({}, "stop")["usage"]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if call is not None:
                message["tool_calls"] = [
                    {**call_id, "type": "function", "function": {"name": call[0], "arguments": call[1]}}
                ]
            return JSONResponse(completion(message, "tool_calls" if call else "stop"))

        if call is not None and "stream_tools_empty" in script.quirks:
            return StreamingResponse(iter(()), media_type="text/event-stream")
        drop = text is not None and _transient(script, "drop_stream")

        async def stream() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            if text is not None:
                for index, piece in enumerate(pieces(text)):
                    await asyncio.sleep(script.chunk_delay)
                    yield chunk({"content": piece})
                    if drop and index == 1:
                        await _drop()
            if call is not None:
                yield chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                **call_id,
                                "type": "function",
                                "function": {"name": call[0], "arguments": ""},
                            }
                        ]
                    }
                )
                for index, piece in enumerate(pieces(call[1])):
                    await asyncio.sleep(script.chunk_delay)
                    yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                    if drop and index == 1:
                        await _drop()
            yield chunk({}, finish="tool_calls" if call else "stop")
            final = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [],
                "usage": usage,
            }
            yield f"data: {json.dumps(final)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def props(_request: Request) -> Response:
        """llama-server's `/props`, which reports the context window it was started with."""
        if script.context_window is None:
            return Response(status_code=404)
        return JSONResponse({"default_generation_settings": {"n_ctx": script.context_window}})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/props", props, methods=["GET"]),
        ]
    )


@contextmanager
def fake_openai(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yields the base URL for `OPENAI_BASE_URL`."""
    with serve(build_app(script)) as url:
        yield f"{url}/v1"


def openai_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a Tandem server whose agents use the fake at `url`."""
    return {
        "TANDEM_MODEL": "openai:fake-model",
        "OPENAI_BASE_URL": url,
        "OPENAI_API_KEY": "sk-test-secret",
        # The tests count and inspect a run's model requests: no model check before the first run, unless asked.
        "TANDEM_MODEL_CHECK_ON_FIRST_USE": "false",
        **extra,
    }


def main() -> None:
    """`python -m tests.fake_openai --port N [--api-key K] [--quirk Q ...]`: the fake as a process of its own,
    for the browser tests (frontend/e2e/models.e2e.ts); it serves until stopped."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--quirk", action="append", default=[], choices=get_args(Quirk))
    args = parser.parse_args()
    script = Script(api_key=args.api_key, quirks=set(args.quirk))
    uvicorn.run(build_app(script), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
