from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tandem.agents.tap import StreamTap

WORDS = ["Hello ", "from ", "a ", "streamed ", "answer."]


async def _words(_messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str]:
    for word in WORDS:
        yield word


async def test_every_chunk_reaches_the_callback_and_the_agent_gets_the_whole_response() -> None:
    seen: list[ModelResponseStreamEvent] = []

    async def on_event(event: ModelResponseStreamEvent) -> None:
        seen.append(event)

    agent = Agent(output_type=str)
    result = await agent.run("hi", model=StreamTap(FunctionModel(stream_function=_words), on_event))

    texts: list[str] = []
    for event in seen:
        if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
            texts.append(event.part.content)
        elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
            texts.append(event.delta.content_delta)
    assert texts == WORDS
    assert result.output == "".join(WORDS)
    assert result.usage.requests == 1
    assert result.usage.output_tokens > 0


async def test_cancelling_the_run_closes_the_model_stream() -> None:
    started, closed = asyncio.Event(), asyncio.Event()

    async def endless(_messages: list[ModelMessage], _info: AgentInfo) -> AsyncIterator[str]:
        try:
            while True:
                started.set()
                yield "more "
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    async def on_event(_event: ModelResponseStreamEvent) -> None:
        return None

    agent = Agent(output_type=str)
    task = asyncio.create_task(agent.run("hi", model=StreamTap(FunctionModel(stream_function=endless), on_event)))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert closed.is_set()
