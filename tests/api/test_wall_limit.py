"""`TANDEM_LIMIT_WALL_SECONDS` ends a run whose model server accepts a request and never answers.

The limit is one deadline for the whole run: the Coder works inside the Planner's hand-off tool call, so
a Coder stuck on its model ends with the run, not a wall limit after the hand-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Backend
from tests.fake_models import Agent, Script, tandem_on_fake
from tests.fake_providers import PROVIDERS
from tests.support import Server, run_chat

WALL_SECONDS = 2
# Far above the limit, far below "for ever": a run the limit does not end fails here, not at pytest's timeout.
BOUND_SECONDS = 30


@pytest.fixture(scope="module", params=list(PROVIDERS))
def hung_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[tuple[Script, Server]]:
    """A Tandem server with a short wall limit, on a fake of the provider; each test says whose requests hang."""
    fake, env = PROVIDERS[request.param]
    data_dir = tmp_path_factory.mktemp(request.param)
    with tandem_on_fake(fake, env, data_dir, **backend, TANDEM_LIMIT_WALL_SECONDS=str(WALL_SECONDS)) as served:
        yield served


@pytest.mark.parametrize("hang", ["Planner", "Coder"])
async def test_a_model_server_that_never_answers_ends_the_run_at_the_wall_limit(
    hung_server: tuple[Script, Server], hang: Agent
) -> None:
    script, server = hung_server
    script.reset()
    script.hang = hang
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        async with asyncio.timeout(BOUND_SECONDS):
            _, events = await run_chat(client)
        history = (await client.get(f"/sessions/{events[0].data['session_id']}/messages")).json()
    for _ in range(100):  # the fake sees the connection close just after the run ends
        if script.abandoned:
            break
        await asyncio.sleep(0.05)

    assert events[-1].type == "error", events[-1]
    assert events[-1].data["code"] == "limit_exceeded"
    assert history[-1]["run_status"] == "failed"
    assert script.abandoned == 1, "the hung model request was closed, not left open"
    calls = [e.data["tool_name"] for e in events if e.type == "agent_interaction" and e.data["tool_name"]]
    assert calls == ([] if hang == "Planner" else ["hand_off_to_coder"]), "what happened before the limit is kept"
