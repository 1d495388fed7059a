"""Which models the team would use, for the UI's banner; checked without calling them."""

from __future__ import annotations

from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.models import SCRIPTED, agents_loaded, resolve_model
from tandem.errors import ModelNotConfigured
from tandem.services.model_settings import ModelSetup


async def model_status(setup: ModelSetup) -> str | None:
    """What to set if the setup's models cannot be used, else None."""
    agents = ((setup.planner, setup.planner_endpoint, "planner"), (setup.coder, setup.coder_endpoint, "coder"))
    # The scripted model is always usable: building it would load pydantic-ai for nothing.
    if any(name and name != SCRIPTED for name, _, _ in agents):
        await agents_loaded()
    for name, endpoint, role in agents:
        if name == SCRIPTED:
            continue
        try:
            resolve_model(
                name,
                role="planner" if role == "planner" else "coder",
                scripted_pace=0,
                scripted_repeat=1,
                quirks=ServerQuirks(),
                endpoint=endpoint,
            )
        except ModelNotConfigured as error:
            return error.message
    return None
