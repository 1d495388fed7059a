"""A small Anthropic Messages API server for tests: streamed thinking, text and tool use, Anthropic's errors.

The stream follows Anthropic's SSE format: `message_start`, then per content block `content_block_start`,
`content_block_delta` (`thinking_delta` + `signature_delta`, `text_delta`, `input_json_delta`) and
`content_block_stop`, a `ping`, then `message_delta` (stop reason, output tokens) and `message_stop`;
a failure mid-stream is an `error` event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fake_models import Reply, Script, agent_of, hang_until_abandoned, next_reply, pieces, serve

INPUT_TOKENS = 13
OUTPUT_TOKENS = 7

# https://docs.anthropic.com/en/api/errors
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def _text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def _results(messages: list[dict[str, Any]]) -> list[str]:
    """The tool results since the user's last prompt (a user turn that is not only tool results)."""
    results: list[str] = []
    for message in messages:
        if message["role"] != "user":
            continue
        blocks = message["content"] if isinstance(message["content"], list) else [{"type": "text"}]
        tool_results = [_text(b) for b in blocks if b["type"] == "tool_result"]
        results = [*results, *tool_results] if tool_results else []
    return results


def _blocks(agent: str, reply: Reply, call_id: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each content block's `content_block_start` payload and its deltas."""
    thinking = f"The {agent} considers the request."
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
        (
            {"type": "thinking", "thinking": "", "signature": ""},
            [
                *({"type": "thinking_delta", "thinking": piece} for piece in pieces(thinking)),
                {"type": "signature_delta", "signature": "fake-signature"},
            ],
        )
    ]
    if reply.text is not None:
        blocks.append(
            ({"type": "text", "text": ""}, [{"type": "text_delta", "text": piece} for piece in pieces(reply.text)])
        )
    if reply.call is not None:
        name, arguments = reply.call
        blocks.append(
            (
                {"type": "tool_use", "id": call_id, "name": name, "input": {}},
                [{"type": "input_json_delta", "partial_json": piece} for piece in pieces(arguments)],
            )
        )
    return blocks


def build_app(script: Script) -> Starlette:
    async def messages(request: Request) -> Response:
        body = await request.json()
        script.requests.append(body)
        if script.fail_status is not None:
            return JSONResponse(
                {
                    "type": "error",
                    "error": {"type": ERROR_TYPES[script.fail_status], "message": script.fail_message},
                    "request_id": "req_fake",
                },
                status_code=script.fail_status,
                # Anthropic's SDK retries 429 and 5xx after this long (ms): keeps the test fast.
                headers={"retry-after-ms": "10"},
            )
        agent = agent_of({tool["name"] for tool in body.get("tools", [])})
        if agent == script.hang:
            await hang_until_abandoned(request, script)
            return Response(status_code=499)
        assert body.get("stream"), "Tandem streams Anthropic responses"
        reply = next_reply(agent, _results(body["messages"]), script)
        call_id = f"toolu_{len(script.requests):02d}"
        fail_mid_stream = script.stream_error is not None and len(script.requests) == 1

        async def stream() -> AsyncIterator[bytes]:
            message = {
                "id": f"msg_{len(script.requests):02d}",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": body["model"],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1},
            }
            yield _event("message_start", {"message": message})
            for index, (start, deltas) in enumerate(_blocks(agent, reply, call_id)):
                yield _event("content_block_start", {"index": index, "content_block": start})
                if index == 0:
                    yield _event("ping", {})
                for delta in deltas:
                    await asyncio.sleep(script.chunk_delay)
                    yield _event("content_block_delta", {"index": index, "delta": delta})
                    if fail_mid_stream and index == 0:
                        yield _event(
                            "error", {"error": {"type": script.stream_error, "message": "fake stream broke off"}}
                        )
                        return
                yield _event("content_block_stop", {"index": index})
            stop_reason = "tool_use" if reply.call is not None else "end_turn"
            yield _event(
                "message_delta",
                {
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": OUTPUT_TOKENS},
                },
            )
            yield _event("message_stop", {})

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


@contextmanager
def fake_anthropic(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yields the base URL for `ANTHROPIC_BASE_URL`."""
    with serve(build_app(script)) as url:
        yield url


def anthropic_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a Tandem server whose agents use the fake at `url`."""
    return {
        "TANDEM_MODEL": "anthropic:claude-sonnet-4-5",
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "test-key",
        # The fake answers streamed requests only, as runs send them: no model check before the first run.
        "TANDEM_MODEL_CHECK_ON_FIRST_USE": "false",
        **extra,
    }
