"""Which models the team would use, for the UI's banner; checked without calling them."""

from __future__ import annotations

from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.models import resolve_model
from tandem.errors import ModelNotConfigured
from tandem.settings import Settings


def model_status(settings: Settings) -> tuple[str | None, str | None, str | None]:
    """The planner's and coder's model names, and what to set if they cannot be used (else None)."""
    planner, coder = settings.planner_model_name, settings.coder_model_name
    for name, role in ((planner, "planner"), (coder, "coder")):
        try:
            resolve_model(
                name,
                role="planner" if role == "planner" else "coder",
                scripted_pace=0,
                scripted_repeat=1,
                quirks=ServerQuirks(),
            )
        except ModelNotConfigured as error:
            return planner, coder, error.message
    return planner, coder, None
