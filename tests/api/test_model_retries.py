"""Model requests that fail for a passing reason are retried, each retry shown in the stream as a System
thought, within `TANDEM_MODEL_RETRIES` and the run's wall-clock limit (`tandem.agents.retries`)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Tandem
from tests.api.test_model_quirks import completed, run, system_thoughts
from tests.fake_models import Quirk, Script

# Each test starts its own server, which a loaded machine may take a minute to start.
pytestmark = pytest.mark.timeout(360)


@pytest.mark.parametrize(
    ("quirk", "said"),
    [
        ("rate_limited", "rate limited by the provider, retrying in 2 s (retry 1 of 4)"),
        ("bad_gateway", "the model server answered HTTP 502, retrying in 1 s (retry 1 of 4)"),
        ("unavailable", "the model server is unavailable or overloaded (HTTP 503), retrying in 1 s (retry 1 of 4)"),
    ],
)
async def test_passing_failures_are_retried_where_the_user_sees_it(
    tandem: Tandem, script: Script, quirk: Quirk, said: str, streaming: str
) -> None:
    script.quirks = {quirk}
    script.transient = 1
    script.retry_after = "2"
    events = await run(tandem(TANDEM_MODEL_STREAMING=streaming))
    completed(events)
    assert system_thoughts(events) == [said]
    assert script.requests[0] == script.requests[1], "the same request again"


async def test_a_stream_that_breaks_off_is_retried_without_duplicating_text(tandem: Tandem, script: Script) -> None:
    script.quirks = {"drop_stream"}
    events = await run(tandem())
    completed(events)
    [said] = system_thoughts(events)
    assert said.startswith("the connection to the model server broke off mid-answer, retrying in")
    retry = next(
        i
        for i, e in enumerate(events)
        if e.type == "agent_interaction" and e.data["agent_name"] == "System" and e.data["message_type"] == "thought"
    )
    before = "".join(
        e.data["delta"] for e in events[:retry] if e.type == "agent_delta" and e.data["agent_name"] == "Coder"
    )
    after = "".join(
        e.data["delta"] for e in events[retry:] if e.type == "agent_delta" and e.data["agent_name"] == "Coder"
    )
    assert before == "I wrote the fi", "part of the answer streamed before the connection broke"
    assert after == "I wrote the files.", "the retry streams the whole answer, which replaces the broken one"
    interactions = [e.data["content"] for e in events if e.type == "agent_interaction"]
    assert sum("I wrote the" in text for text in interactions) == 1, "the Coder's answer is in history once"


async def test_giving_up_names_the_settings(tandem: Tandem, script: Script) -> None:
    script.quirks = {"unavailable"}
    script.transient = 100
    events = await run(tandem(TANDEM_MODEL_RETRIES="2", TANDEM_MODEL_RETRY_MAX_SECONDS="1"))
    assert events[-1].type == "error"
    assert events[-1].data["code"] == "model_error"
    message = events[-1].data["message"]
    assert message.startswith("the model server is unavailable or overloaded (HTTP 503); gave up after 2 retries")
    assert "TANDEM_MODEL_RETRIES=2" in message
    assert len(system_thoughts(events)) == 2
    assert len(script.requests) == 3


async def test_no_retry_waits_past_the_runs_wall_clock_limit(tandem: Tandem, script: Script) -> None:
    script.quirks = {"rate_limited"}
    script.retry_after = "50"
    events = await run(tandem(TANDEM_LIMIT_WALL_SECONDS="40"))
    assert events[-1].data["code"] == "model_error", "given up at once, not cut off by the wall-clock limit"
    assert "gave up after 0 retries" in events[-1].data["message"]
    assert "TANDEM_LIMIT_WALL_SECONDS" in events[-1].data["message"]
    assert system_thoughts(events) == []
    assert len(script.requests) == 1


async def test_retries_can_be_turned_off(tandem: Tandem, script: Script) -> None:
    script.quirks = {"rate_limited"}
    events = await run(tandem(TANDEM_MODEL_RETRIES="0"))
    assert events[-1].data["code"] == "model_error"
    assert len(script.requests) == 1, "nor does the SDK retry on its own"
