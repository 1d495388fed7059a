"""The seed's two chat endpoints, kept exactly: a live SSE stream and a complete JSON response."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from tandem.api.deps import Chat, CurrentUser
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.routes.schemas import ChatRequest, Id
from tandem.api.sse import EventStreamResponse
from tandem.services.chat import ChatResponse

router = APIRouter(prefix="/chat", tags=["chat"], responses=ERROR_RESPONSES)

IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="A retried POST with the same key and body attaches to the same run; "
        "the same key with another body is refused with 422 `idempotency_key_reused`.",
    ),
]


# The streaming routes return their `EventStreamResponse` themselves; `response_class=Response` (no media
# type) keeps FastAPI from documenting a body of its own beside this one, and documents errors as JSON.
def stream_responses(schema: str, description: str) -> dict[int | str, dict[str, object]]:
    """The 200 response of a route streaming `id: <seq>` + `data: <schema JSON>` frames."""
    return {
        200: {
            "content": {
                "text/event-stream": {
                    # One SSE event, as OpenAPI 3.2 describes a stream (and FastAPI its own).
                    "itemSchema": {
                        "type": "object",
                        "required": ["id", "data"],
                        "properties": {
                            "id": {"type": "string", "description": "The event's seq."},
                            "data": {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "contentSchema": {"$ref": f"#/components/schemas/{schema}"},
                            },
                        },
                    }
                }
            },
            "description": description,
        }
    }


STREAM_RESPONSES = stream_responses(
    "RunEvent",
    "`id: <seq>` + `data: <RunEvent JSON>` frames, `: ping` comments while idle; "
    "ends after the terminal `complete` or `error` event.",
)


@router.post("/{project_id}/stream", status_code=200, response_class=Response, responses=STREAM_RESPONSES)
async def chat_stream(
    project_id: Id,
    body: ChatRequest,
    chat: Chat,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
    on_disconnect: Annotated[
        Literal["continue", "cancel"], Query(description="What a dropped connection does to the run.")
    ] = "continue",
) -> EventStreamResponse:
    stream = await chat.process_chat_message_stream(
        user, project_id, body.message, session_id=body.session_id, idempotency_key=idempotency_key
    )
    run_id = stream.run.id
    return EventStreamResponse(
        stream.frames,
        headers={"X-Run-Id": run_id},
        on_disconnect=(lambda: chat.abandon(run_id)) if on_disconnect == "cancel" else None,
    )


@router.post("/{project_id}")
async def chat(
    project_id: Id, body: ChatRequest, chat: Chat, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> ChatResponse:
    return await chat.process_chat_message(
        user, project_id, body.message, session_id=body.session_id, idempotency_key=idempotency_key
    )
