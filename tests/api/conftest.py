from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_models import Script
from tests.fake_openai import fake_openai


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def openai_url(script: Script) -> Iterator[str]:
    """A fake OpenAI-compatible server on loopback playing `script`."""
    with fake_openai(script) as url:
        yield url
