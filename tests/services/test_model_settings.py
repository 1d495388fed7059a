"""Which setup is in force (`combine`): the environment wins field by field, the Models page fills the rest."""

from __future__ import annotations

import pytest

from tandem.agents.models import Endpoint
from tandem.services.model_settings import OLLAMA_DEFAULT_URL, _Saved, combine
from tandem.settings import RunBudget, Settings

SAVED = _Saved(
    provider="ollama",
    base_url=None,
    planner_model="qwen3",
    coder_model="qwen3-coder",
    api_key="saved-key-123456",
    limits=RunBudget(tool_calls=9),
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TANDEM_MODEL", "TANDEM_PLANNER_MODEL", "TANDEM_CODER_MODEL", "TANDEM_LIMIT_TOOL_CALLS"):
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_BASE_URL", "OLLAMA_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_the_saved_setup_fills_what_the_environment_leaves_unset() -> None:
    setup = combine(Settings(_env_file=None), SAVED)
    assert (setup.planner, setup.coder) == ("ollama:qwen3", "ollama:qwen3-coder")
    assert setup.planner_endpoint == Endpoint(base_url=OLLAMA_DEFAULT_URL, api_key="saved-key-123456")
    assert setup.budget.tool_calls == 9


def test_the_environment_wins_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_CODER_MODEL", "ollama:big")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://gpu-box:11434/v1")
    monkeypatch.setenv("OLLAMA_API_KEY", "")  # empty: unset, the saved key stays
    monkeypatch.setenv("TANDEM_LIMIT_TOOL_CALLS", "77")
    setup = combine(Settings(_env_file=None), SAVED)
    assert (setup.planner, setup.coder) == ("ollama:qwen3", "ollama:big")
    assert setup.coder_endpoint == Endpoint(base_url="http://gpu-box:11434/v1", api_key="saved-key-123456")
    assert setup.budget.tool_calls == 77


def test_a_saved_key_is_only_for_its_own_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_MODEL", "anthropic:claude-sonnet-4-5")
    setup = combine(Settings(_env_file=None), SAVED)
    assert setup.planner_endpoint == Endpoint(), "the Ollama key never goes to Anthropic"
