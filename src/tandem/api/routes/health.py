from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter

from tandem.api.deps import CurrentSettings
from tandem.api.routes.schemas import HealthOut, ModelsOut
from tandem.services.models import model_status

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(settings: CurrentSettings) -> HealthOut:
    planner, coder, hint = model_status(settings)
    return HealthOut(
        status="ok",
        version=version("tandem"),
        models=ModelsOut(
            planner=planner,
            coder=coder,
            configured=hint is None,
            scripted="scripted" in (planner, coder),
            hint=hint,
        ),
    )
