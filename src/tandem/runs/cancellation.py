"""Delivering a cancel to the process that executes the run: in process here, through Redis in
`redis_cancellation` (for several processes)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

CANCEL_CHANNEL = "tandem:cancel"
CancelHandler = Callable[[str], object]


class CancelBus(Protocol):
    async def start(self, handler: CancelHandler) -> None: ...

    async def publish(self, run_id: str) -> None: ...

    async def close(self) -> None: ...


class LocalCancelBus:
    """One process: the run is here or nowhere."""

    def __init__(self) -> None:
        self._handler: CancelHandler | None = None

    async def start(self, handler: CancelHandler) -> None:
        self._handler = handler

    async def publish(self, run_id: str) -> None:
        if self._handler is not None:
            self._handler(run_id)

    async def close(self) -> None:
        self._handler = None
