from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from tandem.api.deps import Chat, CurrentUser, Database, Runs
from tandem.api.errors import ERROR_RESPONSES, ErrorBody
from tandem.api.routes.chat import STREAM_RESPONSES
from tandem.api.routes.schemas import RunOut, Seq, Text
from tandem.api.sse import EventStreamResponse
from tandem.events import CodeChange, Usage
from tandem.persistence.models import Run
from tandem.workspace import changes

router = APIRouter(prefix="/runs", tags=["runs"], responses=ERROR_RESPONSES)


def run_out(run: Run) -> RunOut:
    return RunOut(
        id=run.id,
        project_id=run.project_id,
        session_id=run.session_id,
        user_message_id=run.user_message_id,
        assistant_message_id=run.assistant_message_id,
        status=run.status,
        error_code=run.error_code,
        error_message=run.error_message,
        last_seq=run.last_seq,
        usage={name: Usage(**u) for name, u in run.usage.items()},
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


@router.get("/{run_id}")
async def get_run(run_id: Text, chat: Chat, user: CurrentUser) -> RunOut:
    return run_out(await chat.run(user, run_id))


@router.get("/{run_id}/stream", status_code=200, response_class=Response, responses=STREAM_RESPONSES)
async def stream_run(
    run_id: Text,
    runs: Runs,
    chat: Chat,
    user: CurrentUser,
    after: Annotated[Seq | None, Query(description="Replay the events after this seq.")] = None,
    last_event_id: Annotated[Seq | None, Header(description="Standard SSE resume; same as `after`.")] = None,
) -> EventStreamResponse:
    await chat.run(user, run_id)
    resume = after if after is not None else last_event_id
    return EventStreamResponse(runs.follow(run_id, resume or 0), headers={"X-Run-Id": run_id})


@router.post(
    "/{run_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        503: {"model": ErrorBody, "description": "`unavailable`: the cancel could not be delivered (Redis down)"}
    },
)
async def cancel_run(run_id: Text, chat: Chat, user: CurrentUser) -> RunOut:
    return run_out(await chat.cancel(user, run_id))


@router.get("/{run_id}/changes")
async def run_changes(run_id: Text, chat: Chat, user: CurrentUser, db: Database) -> list[CodeChange]:
    await chat.run(user, run_id)
    async with db() as session:
        return await changes.list_for_run(session, run_id)


@router.post("/{run_id}/revert")
async def revert_run(run_id: Text, chat: Chat, user: CurrentUser) -> list[CodeChange]:
    return await chat.revert_run(user, run_id)
