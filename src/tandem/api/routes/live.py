"""A project, live: a stream of its file changes (the Preview reloads on them), and the user's Terminal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from tandem.api.deps import CurrentSettings, CurrentUser, Database, get_container
from tandem.api.errors import ERROR_RESPONSES, ErrorBody
from tandem.api.routes.chat import stream_responses
from tandem.api.routes.schemas import Id, Text
from tandem.api.sse import EventStreamResponse
from tandem.services import access
from tandem.services.project_events import ProjectWatch
from tandem.services.terminal import Terminal

router = APIRouter(tags=["live"], responses=ERROR_RESPONSES)

MAX_COMMAND_CHARS = 10_000


def get_project_events(request: Request) -> ProjectWatch:
    return get_container(request).project_events


def get_terminal(request: Request) -> Terminal:
    return get_container(request).terminal


class CommandIn(BaseModel):
    command: Text = Field(
        min_length=1, max_length=MAX_COMMAND_CHARS, description="A `/bin/sh` command line, run in the project."
    )


async def _ignore() -> None:
    """The stream's own cancellation stops the command; nothing more to do when its client leaves."""


@router.get(
    "/projects/{project_id}/events",
    status_code=200,
    response_class=Response,
    responses=stream_responses(
        "ProjectEvent",
        "`id: <seq>` + `data: <ProjectEvent JSON>` frames: `watching` first, `files_changed` after every "
        "change of the project's files (by anyone, in any process), `: ping` comments while idle; ends "
        "after `project_deleted`.",
    ),
)
async def project_events(
    project_id: Id,
    db: Database,
    user: CurrentUser,
    settings: CurrentSettings,
    watch: Annotated[ProjectWatch, Depends(get_project_events)],
) -> EventStreamResponse:
    """Follow the project's files: a client refetches what it shows on each event. A change made after
    `watching` arrived is never missed; a client that reconnects compares `updated_at` with what it had."""
    async with db() as session:
        await access.require(session, user, project_id, "read")
    return EventStreamResponse(watch.stream(project_id, ping_seconds=settings.ping_seconds))


@router.post(
    "/projects/{project_id}/commands",
    status_code=200,
    response_class=Response,
    responses={
        **stream_responses(
            "CommandEvent",
            "`id: <seq>` + `data: <CommandEvent JSON>` frames: `output` as the command prints, then `end` "
            "with its exit code and the files it changed (saved like manual edits). Closing the connection "
            "stops the command: its processes are killed at once and what it wrote is dropped.",
        ),
        503: {
            "model": ErrorBody,
            "description": "`sandbox_unavailable`: commands cannot run on this server (the message says why)",
        },
    },
)
async def run_command(
    project_id: Id,
    body: CommandIn,
    user: CurrentUser,
    terminal: Annotated[Terminal, Depends(get_terminal)],
) -> EventStreamResponse:
    """Run a command in the sandbox, over a copy of the project's files, with the limits of the Coder's
    `run_command` (`TANDEM_COMMAND_*`). 409 `busy` while a run or another command works on the project."""
    frames = await terminal.start(user, project_id, body.command)
    return EventStreamResponse(frames, on_disconnect=_ignore)
