"""The fake model servers by provider, for tests that run against each of them."""

from __future__ import annotations

from tests.fake_anthropic import anthropic_env, fake_anthropic
from tests.fake_models import Env, Fake
from tests.fake_openai import fake_openai, openai_env

PROVIDERS: dict[str, tuple[Fake, Env]] = {
    "openai": (fake_openai, openai_env),
    "anthropic": (fake_anthropic, anthropic_env),
}
