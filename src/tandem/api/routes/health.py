from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter

from tandem.api.deps import CurrentContainer, ModelSettingsDep
from tandem.api.routes.schemas import HealthOut, ModelsOut, SandboxOut
from tandem.services.models import model_status

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(models: ModelSettingsDep, container: CurrentContainer) -> HealthOut:
    setup = await models.setup()
    hint = await model_status(setup)
    sandbox = container.commands.found.status
    return HealthOut(
        status="ok",
        version=version("tandem"),
        models=ModelsOut(
            planner=setup.planner,
            coder=setup.coder,
            configured=hint is None,
            scripted="scripted" in (setup.planner, setup.coder),
            hint=hint,
        ),
        sandbox=SandboxOut.model_validate(sandbox),
    )
