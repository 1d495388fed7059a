"""Streamed Chat Completions chunks built at a fraction of the OpenAI SDK's cost (issue 17).

The SDK turns every streamed chunk into its pydantic models with `construct_type`, which re-reads the
type annotations of every field of every nested model for every chunk: ~30 % of a run's server CPU on
the provider path (bench `provider`, py-spy), ~73 µs per text chunk. `build` does the same
construction (no validation, extra fields kept, nested models built) from a per-class plan read
once, with pydantic's own `model_construct`: ~20 µs. Anything the plan does not
cover (a union of models, say) goes to the SDK's own `construct_type`, so the result is the SDK's.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
import typing
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, TypeVar, Union, cast

import httpx2
import orjson
from openai import AsyncOpenAI
from openai._models import construct_type
from openai._streaming import ServerSentEvent, SSEDecoder, _SSELineDecoder
from openai.types.chat import ChatCompletionChunk
from pydantic import BaseModel
from pydantic_ai.providers._openai_compatible import AsyncHTTPClient, _OpenAISDKProvider
from pydantic_ai.providers.ollama import OllamaProvider
from pydantic_ai.providers.openai import OpenAIProvider

Model = TypeVar("Model", bound=BaseModel)
ResponseT = TypeVar("ResponseT")


class _Nested:
    __slots__ = ("many", "model")

    def __init__(self, model: type[BaseModel], *, many: bool) -> None:
        self.model = model
        self.many = many


_SDK = object()
"""How to build a field the plan does not cover (a union of models, a dict): the SDK's `construct_type`."""
How = _Nested | object | None
"""How a field's value is built: nested model(s), `_SDK`, or None (taken as it is: str, int, literal...)."""
_PLANS: dict[type[BaseModel], dict[str, tuple[How, Any]]] = {}
_construct = BaseModel.model_construct.__func__  # type: ignore[attr-defined]
"""pydantic's own `model_construct`: the SDK's models override it with their slow `construct`."""


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _how(annotation: Any) -> How:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _how(members[0])
        return _SDK if any(_how(member) is not None for member in members) else None
    if _is_model(annotation):
        return _Nested(annotation, many=False)
    if origin is list:
        item = _how(typing.get_args(annotation)[0])
        if isinstance(item, _Nested) and not item.many:
            return _Nested(item.model, many=True)
        return None if item is None else _SDK
    if origin in (dict, typing.Annotated):
        return _SDK
    return None


def _plan(model: type[BaseModel]) -> dict[str, tuple[How, Any]]:
    """Per key of the JSON (a field's alias or name): how to build its value, and the field's type."""
    plan = _PLANS.get(model)
    if plan is None:
        plan = {(f.alias or name): (_how(f.annotation), f.annotation) for name, f in model.model_fields.items()}
        _PLANS[model] = plan
    return plan


def build(model: type[Model], data: Mapping[str, Any]) -> Model:
    """`model` from decoded JSON, as the SDK's `construct_type(type_=model, value=data)` makes it."""
    plan = _plan(model)
    values: dict[str, Any] = {}
    for key, value in data.items():
        how, annotation = plan.get(key, (None, None))
        if how is None or value is None:
            values[key] = value
        elif isinstance(how, _Nested) and how.many and isinstance(value, list):
            values[key] = [build(how.model, item) if isinstance(item, dict) else item for item in value]
        elif isinstance(how, _Nested) and not how.many and isinstance(value, dict):
            values[key] = build(how.model, value)
        else:  # `_SDK`, or not the shape the type says: the SDK decides what to keep
            values[key] = construct_type(type_=annotation, value=value)
    return cast(Model, _construct(model, **values))


class _Decoded(ServerSentEvent):
    """An event whose JSON is already decoded (with orjson, or joined from several)."""

    def __init__(self, sse: ServerSentEvent, data: object) -> None:
        super().__init__(event=sse.event, data=sse.data, id=sse.id, retry=sse.retry)
        self._decoded = data

    def json(self) -> Any:
        return self._decoded


def _text_of(chunk: object) -> str | None:
    """The text of a chunk that carries one choice's text and nothing else (fields set to null
    aside, and the role some servers repeat on every chunk), else None."""
    if not isinstance(chunk, dict) or chunk.keys() - _HEAD or chunk.get("usage") is not None:
        return None
    choices = chunk.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if not isinstance(delta, dict) or not isinstance(text := delta.get("content"), str):
        return None
    if any(v is not None for k, v in choice.items() if k not in ("index", "delta")):
        return None
    if any(v is not None for k, v in delta.items() if k not in ("content", "role")):
        return None
    return text


_HEAD = {"id", "object", "created", "model", "system_fingerprint", "service_tier", "choices", "usage"}
"""The top-level fields of a chunk; one with others (a server's own) is left as it is."""


def _key(chunk: dict[str, Any]) -> tuple[object, ...]:
    """What chunks must share to be joined: the answer, the choice and the role."""
    choice = chunk["choices"][0]
    return chunk.get("id"), chunk.get("model"), choice.get("index"), choice["delta"].get("role")


def join(events: list[ServerSentEvent]) -> Iterator[ServerSentEvent]:
    """The events of one read from the socket, consecutive text-only chunks of one choice joined."""
    pending: tuple[ServerSentEvent, dict[str, Any], list[str]] | None = None
    for sse in events:
        try:
            chunk = orjson.loads(sse.data) if sse.event is None and sse.data[:1] == "{" else None
        except orjson.JSONDecodeError:
            chunk = None
        text = _text_of(chunk)
        if pending is not None:
            first, head, texts = pending
            if text is not None and _key(head) == _key(chunk):  # type: ignore[arg-type]
                texts.append(text)
                continue
            yield _joined(first, head, texts)
            pending = None
        if text is not None and isinstance(chunk, dict):
            pending = (sse, chunk, [text])
        else:
            yield sse if chunk is None else _Decoded(sse, chunk)
    if pending is not None:
        yield _joined(*pending)


def _joined(first: ServerSentEvent, head: dict[str, Any], texts: list[str]) -> ServerSentEvent:
    if len(texts) > 1:
        head["choices"][0]["delta"]["content"] = "".join(texts)
    return _Decoded(first, head)


_BACKLOG = 10_000
"""Events read ahead of the model layer at most; past it the reader waits (the socket then fills)."""


class JoiningSSEDecoder(SSEDecoder):
    """The SDK's decoder, reading the stream in a task of its own and handing over, each time it is
    asked, every event that has arrived since, consecutive text-only chunks of one choice joined.

    A stream consumed as fast as it arrives hands over one chunk at a time, unchanged. When the
    server falls behind (more runs than it can carry), chunks pile up while the model layer works,
    and their text becomes one: the model layer's per-chunk cost is then paid per hand-over, so the
    backlog drains instead of growing (issue 17: overload stays graceful). The wire contract makes
    deltas advisory text. (Joining within one socket read would not do: servers send each event as
    an HTTP chunk of its own, and the HTTP client hands them over one by one.)"""

    async def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[ServerSentEvent]:
        arrived: list[ServerSentEvent] = []
        came, room = asyncio.Event(), asyncio.Event()
        ended: list[BaseException | None] = []

        async def read() -> None:
            lines = _SSELineDecoder()
            try:
                async for data in iterator:
                    events = list(self._decode_lines(lines.feed(data)))
                    arrived.extend(events)
                    came.set()
                    if any(sse.data.startswith("[DONE]") for sse in events):
                        # The SDK drains the rest of the body itself after `[DONE]`; reading on would
                        # make two readers of one socket (anyio's BusyResourceError, a failed run).
                        break
                    while len(arrived) > _BACKLOG:
                        room.clear()
                        await room.wait()
                arrived.extend(self._decode_lines(lines.finish()))
                ended.append(None)
            except Exception as error:  # raised where the SDK reads the stream, which maps HTTP errors
                ended.append(error)
            finally:
                came.set()

        reader = asyncio.create_task(read(), name="model-stream-reader")
        try:
            while True:
                if not arrived and not ended:
                    await came.wait()
                came.clear()
                batch = arrived[:]
                arrived.clear()
                room.set()
                for sse in join(batch):
                    yield sse
                if ended and not arrived:
                    if ended[0] is not None:
                        raise ended[0]
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self._reset()


class ChunkBuildingClient(AsyncOpenAI):
    """The SDK's client, building streamed chunks with `build` from events `JoiningSSEDecoder` decoded."""

    def _make_sse_decoder(self) -> SSEDecoder:
        return JoiningSSEDecoder()

    def _process_response_data(self, *, data: object, cast_to: type[ResponseT], response: httpx2.Response) -> ResponseT:
        if cast_to is ChatCompletionChunk and isinstance(data, dict):
            return cast(ResponseT, build(ChatCompletionChunk, data))
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)


class _BuildsChunks(_OpenAISDKProvider):
    def _create_openai_client(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        http_client: AsyncHTTPClient | None,
        default_headers: Mapping[str, str] | None = None,
    ) -> AsyncOpenAI:
        # pydantic-ai's own, with our client class (one frame deeper for the legacy-client warning).
        return ChunkBuildingClient(
            base_url=base_url,
            api_key=api_key,
            http_client=self._get_http_client(http_client, warning_stacklevel=4),  # type: ignore[arg-type]
            default_headers=default_headers,
        )


class ChunkBuildingOpenAIProvider(_BuildsChunks, OpenAIProvider):
    """pydantic-ai's OpenAI provider, building streamed chunks with `build`."""


class ChunkBuildingOllamaProvider(_BuildsChunks, OllamaProvider):
    """pydantic-ai's Ollama provider, building streamed chunks with `build`."""
