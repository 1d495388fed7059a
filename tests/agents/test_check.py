"""Reading a model server's context window from what it reports, however odd the answer."""

from __future__ import annotations

import pytest

from tandem.agents.check import _context_from


@pytest.mark.parametrize(
    ("answer", "window"),
    [
        ({"default_generation_settings": {"n_ctx": 4096}}, 4096),  # llama.cpp /props
        ({"model_info": {"qwen3.context_length": 32768}}, 32768),  # Ollama /api/show
        ({"data": [{"id": "other", "max_model_len": 1}, {"id": "m", "max_model_len": 8192}]}, 8192),  # vLLM
        ({"data": 5}, None),
        ({"data": [5, "x"]}, None),
        ([1, 2], None),
        ({}, None),
    ],
)
def test_the_context_window_is_read_or_left_unknown(answer: object, window: int | None) -> None:
    assert _context_from(answer, "m") == window
