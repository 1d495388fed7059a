"""A project's live preview: a link to its pages on the preview origin (`api/preview.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from tandem.api.deps import CurrentSettings, CurrentUser, get_container
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.preview import preview_origin
from tandem.api.routes.schemas import Id
from tandem.errors import Unavailable
from tandem.services.previews import ENTRY, Previews


class PreviewOut(BaseModel):
    url: str = Field(description="The project's entry page on the preview origin; relative links resolve under it.")
    origin: str = Field(description="The preview origin, for the frame's policy.")
    expires_at: datetime


def get_previews(request: Request) -> Previews:
    return get_container(request).previews


router = APIRouter(tags=["previews"], responses=ERROR_RESPONSES)


@router.post("/projects/{project_id}/preview")
async def open_preview(
    project_id: Id,
    request: Request,
    user: CurrentUser,
    settings: CurrentSettings,
    previews: Annotated[Previews, Depends(get_previews)],
) -> PreviewOut:
    """A link to the project's pages (its `index.html` first), working for `TANDEM_PREVIEW_MINUTES` for
    anyone who holds it, as long as this user may still read the project."""
    origin = preview_origin(settings, scheme=request.url.scheme, host=request.headers.get("host", ""))
    if origin is None:
        raise Unavailable("previews are off on this server (TANDEM_PREVIEW_PORT=0)")
    token = await previews.link(user, project_id)
    return PreviewOut(
        url=f"{origin}/{token}/{ENTRY}",
        origin=origin,
        expires_at=datetime.now(UTC) + timedelta(minutes=settings.preview_minutes),
    )
