"""Streamed chunks built from the JSON as the OpenAI SDK builds them, only cheaper."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from openai import APIConnectionError
from openai._models import construct_type
from openai._streaming import ServerSentEvent
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDelta, ChoiceDeltaToolCall
from pydantic_ai.models.openai import OpenAIChatModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tandem.agents.adapt.chunks import ChunkBuildingClient, build, join
from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.models import Endpoint, resolve_model
from tests.fake_models import serve

HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1733000000, "model": "m"}
CHUNKS: list[dict[str, Any]] = [
    {**HEAD, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    {**HEAD, "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None, "logprobs": None}]},
    # Servers add fields of their own (vLLM, llama.cpp, Ollama): kept as extras.
    {**HEAD, "choices": [{"index": 0, "delta": {"reasoning_content": "think"}, "finish_reason": None}], "x": 1},
    {
        **HEAD,
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
                    ]
                },
                "finish_reason": None,
            }
        ],
    },
    {**HEAD, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a'}}]}}]},
    {**HEAD, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {
        **HEAD,
        "choices": [],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 5,
            "total_tokens": 16,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    },
    {
        **HEAD,
        "choices": [
            {
                "index": 0,
                "delta": {"content": "a"},
                "finish_reason": None,
                "logprobs": {"content": [{"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": []}]},
            }
        ],
    },
    # Shapes the types do not allow: whatever the SDK keeps, `build` keeps.
    {**HEAD, "choices": [{"index": 0, "delta": "odd", "finish_reason": None}], "usage": [1]},
    {**HEAD, "choices": None},
]


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # dumping the odd shapes
@pytest.mark.parametrize("data", CHUNKS)
def test_a_chunk_is_built_as_the_sdk_builds_it(data: dict[str, Any]) -> None:
    ours = build(ChatCompletionChunk, data)
    theirs = construct_type(type_=ChatCompletionChunk, value=data)
    assert ours == theirs
    assert ours.model_dump() == theirs.model_dump()  # type: ignore[attr-defined]


def test_nested_values_are_models_that_read_like_the_sdks() -> None:
    chunk = build(ChatCompletionChunk, CHUNKS[3])
    (choice,) = chunk.choices
    assert isinstance(choice.delta, ChoiceDelta)
    assert choice.delta.tool_calls is not None
    (call,) = choice.delta.tool_calls
    assert isinstance(call, ChoiceDeltaToolCall)
    assert call.function is not None
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "f", "")
    assert build(ChatCompletionChunk, CHUNKS[2]).choices[0].delta.model_extra == {"reasoning_content": "think"}


async def test_the_client_builds_streamed_chunks_and_leaves_other_types_to_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tandem.agents.adapt.chunks as chunks

    built: list[type[object]] = []
    real = chunks.build

    def counting(model: Any, data: Any) -> Any:
        built.append(model)
        return real(model, data)

    monkeypatch.setattr(chunks, "build", counting)
    client = ChunkBuildingClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    response: Any = None
    chunk = client._process_response_data(data=CHUNKS[1], cast_to=ChatCompletionChunk, response=response)
    assert chunk == construct_type(type_=ChatCompletionChunk, value=CHUNKS[1])
    assert built == [ChatCompletionChunk, *[type(c) for c in chunk.choices], type(chunk.choices[0].delta)]
    assert client._process_response_data(data={"a": 1}, cast_to=object, response=response) == {"a": 1}
    await client.close()


@pytest.mark.parametrize("provider", ["openai", "ollama"])
def test_openai_compatible_models_use_the_chunk_building_client(provider: str) -> None:
    model = resolve_model(
        f"{provider}:m",
        role="coder",
        scripted_pace=0,
        scripted_repeat=0,
        quirks=ServerQuirks(),
        endpoint=Endpoint(base_url="http://127.0.0.1:9/v1", api_key="sk-test"),
    )
    assert isinstance(model, OpenAIChatModel)
    assert isinstance(model.client, ChunkBuildingClient)


def sse(data: object, event: str | None = None) -> ServerSentEvent:
    return ServerSentEvent(data=data if isinstance(data, str) else json.dumps(data), event=event)


def text(content: str, *, index: int = 0, role: str | None = None, **extra: Any) -> dict[str, Any]:
    delta: dict[str, Any] = {"content": content} | ({"role": role} if role else {})
    return {**HEAD, "choices": [{"index": index, "delta": delta, "finish_reason": None, **extra}]}


def contents(events: list[ServerSentEvent]) -> list[object]:
    return [e.json()["choices"][0]["delta"].get("content") if e.data.startswith("{") else e.data for e in events]


def test_consecutive_text_chunks_of_one_read_become_one() -> None:
    events = [sse(text("a")), sse(text("b", logprobs=None)), sse(text("c")), sse(CHUNKS[5]), sse("[DONE]")]
    joined = list(join(events))
    assert contents(joined) == ["abc", None, "[DONE]"]
    assert joined[0].json() == text("abc")
    assert joined[1].json() == CHUNKS[5]


@pytest.mark.parametrize(
    "second",
    [
        text("b", index=1),  # another choice
        text("b", role="assistant"),  # the first had no role
        {**text("b"), "id": "chatcmpl-2"},  # another answer
        text("b", finish_reason="stop"),  # the end
        text("b", logprobs={"content": []}),  # more than text
        {**text("b"), "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}},
        {**text("b"), "x_server": {"queue": 1}},  # a server's own field
        CHUNKS[4],  # a tool call
        CHUNKS[2],  # reasoning
    ],
)
def test_chunks_that_carry_more_than_text_are_never_joined(second: dict[str, Any]) -> None:
    joined = list(join([sse(text("a")), sse(second)]))
    assert [e.json() for e in joined] == [text("a"), second]


def test_servers_repeating_the_role_or_sending_nulls_are_joined() -> None:
    chunks = [text("a", role="assistant"), text("b", role="assistant", logprobs=None)]
    chunks[1]["choices"][0]["delta"]["tool_calls"] = None
    assert contents(list(join([sse(c) for c in chunks]))) == ["ab"]


def test_what_is_not_a_json_chunk_passes_untouched() -> None:
    events = [sse("not json"), sse(text("a"), event="thread.message"), sse("{broken"), sse("[DONE]")]
    assert list(join(events)) == events


async def test_a_stream_read_whole_reaches_the_model_as_one_text_chunk() -> None:
    """What a server that fell behind reads: every chunk of the answer at once."""
    body = b"".join(f"data: {json.dumps(chunk)}\n\n".encode() for chunk in [*map(text, "hello"), CHUNKS[5]])
    transport = httpx2.MockTransport(
        lambda _: httpx2.Response(
            200, content=body + b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
        )
    )
    async with httpx2.AsyncClient(transport=transport) as http:
        client = ChunkBuildingClient(api_key="sk-test", base_url="http://model/v1", http_client=http)
        stream = await client.chat.completions.create(model="m", messages=[], stream=True)
        chunks = [chunk async for chunk in stream]
    assert [c.choices[0].delta.content for c in chunks] == ["hello", None]
    assert [c.choices[0].finish_reason for c in chunks] == [None, "tool_calls"]


def _paced(chunks: list[dict[str, Any]], gap: float) -> httpx2.MockTransport:
    """A server sending each event as a piece of its own (as an HTTP chunk would come), `gap` s apart."""

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            await asyncio.sleep(gap)
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    return httpx2.MockTransport(
        lambda _: httpx2.Response(200, content=body(), headers={"content-type": "text/event-stream"})
    )


async def _read(transport: httpx2.MockTransport, *, work: float) -> list[str | None]:
    """The chunks' texts as the model layer gets them, taking `work` seconds over each."""
    async with httpx2.AsyncClient(transport=transport) as http:
        client = ChunkBuildingClient(api_key="sk-test", base_url="http://model/v1", http_client=http)
        texts = []
        async for chunk in await client.chat.completions.create(model="m", messages=[], stream=True):
            texts.append(chunk.choices[0].delta.content)
            await asyncio.sleep(work)
        return texts


async def test_chunks_that_arrive_while_the_model_layer_works_reach_it_joined() -> None:
    transport = _paced([*map(text, "hello"), CHUNKS[5]], gap=0.001)
    assert await _read(transport, work=0.2) == ["h", "ello", None]


async def test_chunks_taken_as_they_come_reach_the_model_layer_one_by_one() -> None:
    transport = _paced([*map(text, "hello"), CHUNKS[5]], gap=0.05)
    assert await _read(transport, work=0) == ["h", "e", "l", "l", "o", None]


async def test_a_stream_that_breaks_raises_where_the_sdk_reads_it() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield f"data: {json.dumps(text('a'))}\n\n".encode()
        raise httpx2.ReadError("the connection broke")

    transport = httpx2.MockTransport(
        lambda _: httpx2.Response(200, content=body(), headers={"content-type": "text/event-stream"})
    )
    with pytest.raises(APIConnectionError):
        await _read(transport, work=0)


async def test_a_server_that_keeps_the_stream_open_after_done_is_read_by_one_reader_at_a_time() -> None:
    """After `[DONE]` the SDK drains the rest of the body itself (HTTP/1.1 keep-alive). A reader still
    waiting for more was a second reader of one socket: a run failed with anyio's BusyResourceError
    when its server closed the stream a moment after sending its end."""

    async def completions(_request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield f"data: {json.dumps(text('a'))}\n\n".encode()
            yield b"data: [DONE]\n\n"
            await asyncio.sleep(0.3)

        return StreamingResponse(body(), media_type="text/event-stream")

    with serve(Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])) as url:
        async with httpx2.AsyncClient() as http:
            client = ChunkBuildingClient(api_key="sk-test", base_url=f"{url}/v1", http_client=http)
            stream = await client.chat.completions.create(model="m", messages=[], stream=True)
            assert [chunk.choices[0].delta.content async for chunk in stream] == ["a"]
