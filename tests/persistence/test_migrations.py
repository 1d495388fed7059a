"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.persistence.database import create_engine, migrate
from tandem.persistence.models import Base
from tests.conftest import psql


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}")
        yield engine
        await engine.dispose()
        return
    name = f"tandem_migrations_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {name}")
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    yield engine
    await engine.dispose()
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    await migrate(engine)

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
