from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from tandem.api.deps import Chat, CurrentUser
from tandem.api.errors import ERROR_RESPONSES, ErrorBody
from tandem.api.routes.chat import STREAM_RESPONSES
from tandem.api.routes.schemas import RunOut, Seq, Text
from tandem.api.sse import EventStreamResponse
from tandem.events import CodeChange

router = APIRouter(prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES)


@router.get("/{run_id}")
async def get_run(run_id: Text, chat: Chat, user: CurrentUser) -> RunOut:
    return RunOut.model_validate(await chat.run(user, run_id))


@router.get("/{run_id}/stream", status_code=200, response_class=Response, responses=STREAM_RESPONSES)
async def stream_run(
    run_id: Text,
    chat: Chat,
    user: CurrentUser,
    after: Annotated[Seq | None, Query(description="Replay the events after this seq.")] = None,
    last_event_id: Annotated[Seq | None, Header(description="Standard SSE resume; same as `after`.")] = None,
) -> EventStreamResponse:
    resume = after if after is not None else last_event_id
    return EventStreamResponse(await chat.follow(user, run_id, resume or 0), headers={"X-Run-Id": run_id})


@router.post(
    "/{run_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        503: {"model": ErrorBody, "description": "`unavailable`: the cancel could not be delivered (Redis down)"}
    },
)
async def cancel_run(run_id: Text, chat: Chat, user: CurrentUser) -> RunOut:
    return RunOut.model_validate(await chat.cancel(user, run_id))


@router.get("/{run_id}/changes")
async def run_changes(run_id: Text, chat: Chat, user: CurrentUser) -> list[CodeChange]:
    return await chat.changes(user, run_id)


@router.post("/{run_id}/revert")
async def revert_run(run_id: Text, chat: Chat, user: CurrentUser) -> list[CodeChange]:
    return await chat.revert_run(user, run_id)
