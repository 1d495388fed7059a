"""The configured models: check them with a few small real requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tandem.api.deps import AdminUser, get_container
from tandem.api.errors import ERROR_RESPONSES
from tandem.services.model_checks import ModelCheck, ModelChecks


def model_admin(request: Request, _: AdminUser) -> ModelChecks:
    """Every models endpoint goes through here: the one place that decides who may check or set models
    (admins: a check spends the server's model credits)."""
    return get_container(request).model_checks


Models = Annotated[ModelChecks, Depends(model_admin)]
router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)


@router.post("/check")
async def check_models(models: Models) -> list[ModelCheck]:
    """Check each configured model again (reachable, API key, plain text, tool calls streamed and not, a
    follow-up with a tool result, context window) and keep the result, which sets how runs use the model."""
    return await models.check(force=True)
