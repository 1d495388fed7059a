from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter

from tandem.api.deps import CurrentContainer
from tandem.api.routes.schemas import HealthOut, ModelsOut, SandboxOut
from tandem.services.models import model_status

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(container: CurrentContainer) -> HealthOut:
    planner, coder, hint = model_status(container.settings)
    sandbox = container.commands.found.status
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
        sandbox=SandboxOut(available=sandbox.available, detail=sandbox.detail),
    )
