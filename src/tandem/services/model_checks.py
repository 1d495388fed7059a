"""Model checks of the configured models: run on demand or on a model's first use, kept in the database
per base URL and model, so every process shares them; each result sets how runs talk to that model."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.adapt.quirks import KnownQuirks
from tandem.agents.check_report import CheckStep, ModelCheck
from tandem.agents.models import SCRIPTED, Endpoint, agents_loaded, resolve_model
from tandem.errors import InvalidInput, ModelNotConfigured
from tandem.persistence.database import insert_on_conflict
from tandem.persistence.models import ModelCheckRow
from tandem.services.model_settings import ModelSettings, ModelSetup

if TYPE_CHECKING:
    import httpx

__all__ = ["ModelCheck", "ModelChecks"]


class ModelChecks:
    def __init__(
        self,
        *,
        models: ModelSettings,
        sessions: async_sessionmaker[AsyncSession],
        quirks: KnownQuirks,
        on_first_use: bool,
    ) -> None:
        self._models = models
        self._sessions = sessions
        self._quirks = quirks
        self._on_first_use = on_first_use
        self._prepared: set[tuple[tuple[str | None, Endpoint], ...]] = set()
        self._lock = asyncio.Lock()

    async def check(self, *, force: bool, setup: ModelSetup | None = None) -> list[ModelCheck]:
        """The check of each model of `setup` (default: the one in force): the stored one unless `force`,
        else (or if none) a new one."""
        import httpx  # ~0.25 s of start-up, only needed by a check

        setup = setup or await self._models.setup()
        results: list[ModelCheck] = []
        async with self._lock, httpx.AsyncClient(timeout=10) as http:
            for name, endpoint in _agents(setup):
                results.append(await self._one(name, endpoint, force=force, http=http))
        return results

    async def prepare(self, setup: ModelSetup) -> None:
        """Before a process's first run on `setup`: the stored checks (or new ones) set how runs talk to each
        model."""
        if _agents(setup) in self._prepared or not self._on_first_use:
            return
        with contextlib.suppress(InvalidInput):  # not configured: the run says so itself
            await self.check(force=False, setup=setup)
        self._prepared.add(_agents(setup))

    async def _one(self, name: str | None, endpoint: Endpoint, *, force: bool, http: httpx.AsyncClient) -> ModelCheck:
        if name == SCRIPTED:
            return ModelCheck(
                model=SCRIPTED,
                base_url=None,
                ok=True,
                streaming=True,
                null_content_rejected=False,
                context_window=None,
                steps=[CheckStep(name="reachable", ok=True, detail="The scripted model (not AI) runs in process.")],
                checked_at=datetime.now(UTC),
            )
        quirks = self._quirks.of(name, endpoint.base_url)
        await agents_loaded()
        try:
            model = resolve_model(
                name, role="planner", scripted_pace=0, scripted_repeat=1, quirks=quirks, endpoint=endpoint
            )
        except ModelNotConfigured as error:
            raise InvalidInput(error.message) from None
        assert name is not None  # resolve_model refuses None
        base_url = model.base_url or ""
        if not force and (stored := await self._stored(base_url, name)) is not None:
            stored.apply(quirks)
            return stored
        from tandem.agents.check import check_model  # needs pydantic-ai, which the model above has loaded

        result = await check_model(name, model, quirks, http=http)
        async with self._sessions.begin() as session:
            await keep(session, base_url, result)
        return result

    async def _stored(self, base_url: str, name: str) -> ModelCheck | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(ModelCheckRow).where(ModelCheckRow.base_url == base_url, ModelCheckRow.model == name)
            )
        return ModelCheck.model_validate(row.result) if row is not None else None


async def keep(session: AsyncSession, base_url: str, check: ModelCheck) -> None:
    """Store `check` as the last of its model on `base_url`. One statement: every process checks a model
    before its first run on it, and two that do so at once must not both insert."""
    values = {"result": check.model_dump(mode="json"), "checked_at": check.checked_at}
    insert = insert_on_conflict(session, ModelCheckRow).values(base_url=base_url, model=check.model, **values)
    await session.execute(insert.on_conflict_do_update(index_elements=["base_url", "model"], set_=values))


def _agents(setup: ModelSetup) -> tuple[tuple[str | None, Endpoint], ...]:
    """Each distinct model of the setup with its endpoint (both agents may share one)."""
    return tuple(dict.fromkeys([(setup.planner, setup.planner_endpoint), (setup.coder, setup.coder_endpoint)]))
