"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.persistence.database import alembic_config, head_revision, migrate
from tandem.persistence.models import LOCAL_USER, LOCAL_USER_ID, Base


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    await migrate(engine)

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_projects_made_before_accounts_belong_to_the_local_admin(engine: AsyncEngine) -> None:
    def before_accounts(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "0002")

    async with engine.begin() as connection:
        await connection.run_sync(before_accounts)
        await connection.execute(
            text("INSERT INTO projects (name, template, created_at, updated_at) VALUES ('old', 'blank', :t, :t)"),
            {"t": datetime.now(UTC)},
        )
    await migrate(engine)
    async with engine.connect() as connection:
        owners = (
            await connection.execute(
                text("SELECT users.name, users.is_admin FROM projects JOIN users ON users.id = projects.owner_id")
            )
        ).all()
        local_id = await connection.scalar(text("SELECT id FROM users WHERE name = 'local'"))
    assert [tuple(row) for row in owners] == [(LOCAL_USER, True)]
    assert local_id == LOCAL_USER_ID


def test_the_head_read_from_the_file_names_is_alembics_head() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
