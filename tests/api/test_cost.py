"""Tokens and estimated cost per agent and per run (genai-prices), the per-run cost limit, and the usage of
past runs."""

from __future__ import annotations

import httpx
import pytest
from genai_prices import Usage, calc_price

from tests.api.conftest import Tandem
from tests.api.test_model_quirks import run
from tests.fake_models import Script

pytestmark = pytest.mark.timeout(360)


def _price(input_tokens: int, output_tokens: int) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(calc_price(usage, model_ref="gpt-4o", provider_id="openai").total_price)


async def test_a_priced_model_reports_its_cost_per_agent_live_and_after(tandem: Tandem, script: Script) -> None:
    server = tandem(TANDEM_MODEL="openai:gpt-4o")
    events = await run(server)
    usage = events[-1].data["usage"]
    # The Planner makes two requests (hand-off, answer), the Coder two (write, report): 11 in, 5 out each.
    assert usage["Planner"]["cost_usd"] == pytest.approx(_price(22, 10))
    assert usage["Coder"]["cost_usd"] == pytest.approx(_price(22, 10))
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1") as client:
        stored = (await client.get(f"/runs/{events[0].raw['run_id']}")).json()
    assert stored["usage"] == usage, "a past run keeps its usage and cost"


async def test_an_unpriced_model_has_tokens_but_no_cost(tandem: Tandem) -> None:
    events = await run(tandem())
    usage = events[-1].data["usage"]
    assert usage["Planner"]["input_tokens"] == 22
    assert usage["Planner"]["cost_usd"] is None


async def test_a_run_over_its_cost_limit_ends_with_limit_exceeded(tandem: Tandem) -> None:
    events = await run(tandem(TANDEM_MODEL="openai:gpt-4o", TANDEM_LIMIT_COST_USD="0.00001"))
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "limit_exceeded"
    assert "raise TANDEM_LIMIT_COST_USD" in events[-1].data["message"]
