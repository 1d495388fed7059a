from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.persistence.database import create_engine
from tests.conftest import psql


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh, empty database of each backend (not migrated)."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}")
        yield engine
        await engine.dispose()
        return
    name = f"tandem_fresh_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {name}")
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    yield engine
    await engine.dispose()
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
