"""Streamed Chat Completions chunks built at a fraction of the OpenAI SDK's cost (issue 17).

The SDK turns every streamed chunk into its pydantic models with `construct_type`, which re-reads the
type annotations of every field of every nested model for every chunk: ~30 % of a run's server CPU on
the provider path (bench `provider`, py-spy), ~73 µs per text chunk. `build` does the same
construction (no validation, extra fields kept, nested models built) from a per-class plan read
once, with pydantic's own `model_construct`: ~20 µs. Anything the plan does not
cover (a union of models, say) goes to the SDK's own `construct_type`, so the result is the SDK's.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union, cast

import httpx2
from openai import AsyncOpenAI
from openai._models import construct_type
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


class ChunkBuildingClient(AsyncOpenAI):
    """The SDK's client, building streamed chunks with `build`."""

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
