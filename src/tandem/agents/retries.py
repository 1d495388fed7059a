"""Retrying model requests that failed for a passing reason, in a way the user can see.

tenacity drives the attempts; what is retried: 429, 502, 503, 504 and 529, and lost connections (refused, reset,
a stream that broke off). The wait honours the provider's `Retry-After`, else backs off exponentially; both
are capped by `TANDEM_MODEL_RETRY_MAX_SECONDS`, and no retry starts that would end past the run's wall-clock
limit. Before each wait, `notify` says why and for how long, so the user knows why nothing moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelUnavailableError,
)
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.stop import stop_base

from tandem.agents.models import redact_model_error
from tandem.errors import ModelFailed

Notify = Callable[[str], Awaitable[None]]
TRANSIENT_STATUS = frozenset({429, 502, 503, 504, 529})


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    retries: int
    """Retries after the first attempt (`TANDEM_MODEL_RETRIES`)."""
    max_wait: float
    """The longest wait before one retry (`TANDEM_MODEL_RETRY_MAX_SECONDS`)."""
    deadline: float
    """`loop.time()` at which the run reaches its wall-clock limit."""


def transient(error: BaseException) -> bool:
    if isinstance(error, ModelRateLimitError | ModelUnavailableError | ModelConnectionError):
        return True
    return isinstance(error, ModelHTTPError) and error.status_code in TRANSIENT_STATUS


def reason(error: BaseException) -> str:
    """Why a request failed, in plain words."""
    status = error.status_code if isinstance(error, ModelHTTPError) else None
    if isinstance(error, ModelRateLimitError) or status == 429:
        return "rate limited by the provider"
    if isinstance(error, ModelUnavailableError) or status in (503, 529):
        return f"the model server is unavailable or overloaded (HTTP {status})"
    if status is not None:
        return f"the model server answered HTTP {status}"
    if isinstance(error, ModelConnectionError) and (error.in_stream or error.phase == "read"):
        return "the connection to the model server broke off mid-answer"
    return "the model server could not be reached"


class _PastDeadline(stop_base):
    """Stops when the coming wait would end past the run's wall-clock limit: the run could not use the retry."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return asyncio.get_running_loop().time() + retry_state.upcoming_sleep >= self._deadline


def retrying(policy: RetryPolicy, notify: Notify) -> AsyncRetrying:
    backoff = wait_exponential(multiplier=1, min=1, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = error.retry_after if isinstance(error, ModelAPIError) else None
        return min(asked if asked is not None else backoff(state), policy.max_wait)

    async def announce(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        await notify(
            f"{reason(error) if error else 'the request failed'}, retrying in {state.upcoming_sleep:.0f} s "
            f"(retry {state.attempt_number} of {policy.retries})"
        )

    def give_up(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        assert error is not None  # only failed attempts end here
        retries = state.attempt_number - 1
        raise ModelFailed(
            redact_model_error(
                f"{reason(error)}; gave up after {retries} {'retry' if retries == 1 else 'retries'} "
                f"(TANDEM_MODEL_RETRIES={policy.retries}, TANDEM_MODEL_RETRY_MAX_SECONDS={policy.max_wait:g}, "
                f"within the run's TANDEM_LIMIT_WALL_SECONDS). Last error: {error}"
            )
        ) from error

    return AsyncRetrying(
        retry=retry_if_exception(transient),
        wait=wait,
        stop=stop_after_attempt(policy.retries + 1) | _PastDeadline(policy.deadline),
        before_sleep=announce,
        retry_error_callback=give_up,
    )
