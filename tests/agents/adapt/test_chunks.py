"""Streamed chunks built from the JSON as the OpenAI SDK builds them, only cheaper."""

from __future__ import annotations

from typing import Any

import pytest
from openai._models import construct_type
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDelta, ChoiceDeltaToolCall
from pydantic_ai.models.openai import OpenAIChatModel

from tandem.agents.adapt.chunks import ChunkBuildingClient, build
from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.models import Endpoint, resolve_model

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
