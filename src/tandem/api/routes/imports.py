"""Import jobs: started by `POST /projects` with a `source` or an archive body, polled and cancelled here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from tandem.api.deps import CurrentUser, Imports
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.routes.schemas import ImportOut

router = APIRouter(tags=["imports"], responses=ERROR_RESPONSES)

ImportId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[0-9a-f-]+$")]


@router.get("/imports/{import_id}")
async def get_import(import_id: ImportId, imports: Imports, user: CurrentUser) -> ImportOut:
    """The import's progress; once `status` is not `running`, its outcome (`project_id`, or the error)."""
    return ImportOut.model_validate(await imports.get(user, import_id))


@router.post("/imports/{import_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_import(import_id: ImportId, imports: Imports, user: CurrentUser) -> ImportOut:
    """Ask a running import to stop: it ends `cancelled` and leaves no project (409 if it already ended)."""
    return ImportOut.model_validate(await imports.cancel(user, import_id))
