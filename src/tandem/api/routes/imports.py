"""Import jobs: started by `POST /projects` with a `source` or an archive body, polled and cancelled here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from tandem.api.deps import CurrentUser, Imports
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.routes.schemas import ImportOut
from tandem.services.imports import ImportStatus

router = APIRouter(tags=["imports"], responses=ERROR_RESPONSES)

ImportId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[0-9a-f-]+$")]


def import_out(job: ImportStatus) -> ImportOut:
    return ImportOut(
        id=job.id,
        name=job.name,
        source=job.source,
        status=job.status,
        phase=job.phase,
        files_done=job.files_done,
        files_total=job.files_total,
        bytes_done=job.bytes_done,
        project_id=job.project_id,
        skipped=job.skipped,
        binary_files=job.binary_files,
        error_code=job.error_code,
        error_message=job.error_message,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


@router.get("/imports/{import_id}")
async def get_import(import_id: ImportId, imports: Imports, user: CurrentUser) -> ImportOut:
    """The import's progress; once `status` is not `running`, its outcome (`project_id`, or the error)."""
    return import_out(await imports.get(user, import_id))


@router.post("/imports/{import_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_import(import_id: ImportId, imports: Imports, user: CurrentUser) -> ImportOut:
    """Ask a running import to stop: it ends `cancelled` and leaves no project (409 if it already ended)."""
    return import_out(await imports.cancel(user, import_id))
