"""The models: which ones the team uses (the Models page), and a check of them with a few small real requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tandem.api.deps import AdminUser, get_container
from tandem.api.errors import ERROR_RESPONSES
from tandem.services.model_checks import ModelCheck, ModelChecks
from tandem.services.model_settings import ModelSettings, ModelSettingsIn, ModelSettingsOut


@dataclass(frozen=True)
class _ModelAdmin:
    checks: ModelChecks
    settings: ModelSettings


def model_admin(request: Request, _: AdminUser) -> _ModelAdmin:
    """Every models endpoint goes through here: the one place that decides who may check or set models
    (admins: the models spend the server's credits, and the key is the server's)."""
    container = get_container(request)
    return _ModelAdmin(checks=container.model_checks, settings=container.model_settings)


Models = Annotated[_ModelAdmin, Depends(model_admin)]
router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)


@router.get("/settings")
async def get_model_settings(models: Models) -> ModelSettingsOut:
    """The models chosen on the Models page, the limits in force, and which fields environment variables set
    (they win). The API key is never returned: only whether one is saved and its last 4 characters."""
    return await models.settings.view()


@router.put("/settings")
async def save_model_settings(body: ModelSettingsIn, models: Models) -> ModelSettingsOut:
    """Choose the models; the next run uses them (a running one keeps its own). The API key is stored
    encrypted and is write-only."""
    return await models.settings.save(body)


@router.post("/check")
async def check_models(models: Models) -> list[ModelCheck]:
    """Check each configured model again (reachable, API key, plain text, tool calls streamed and not, a
    follow-up with a tool result, context window) and keep the result, which sets how runs use the model."""
    return await models.checks.check(force=True)
