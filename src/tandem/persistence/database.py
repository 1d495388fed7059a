"""Engine, sessions, migrations, and the one way to get a row or 404."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from tandem.errors import NotFound
from tandem.persistence.models import Base

if TYPE_CHECKING:
    from alembic.config import Config

Row = TypeVar("Row", bound=Base)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection, so transactions queue in the event loop, first come first served. With a
        # pool, every transaction (each takes the write lock, below) waited in SQLite's busy handler,
        # which sleeps up to 100 ms between tries: past ~25 live runs the writers convoyed, the CPU
        # idled, run starts failed after the 30 s timeout and stream latency reached tens of seconds
        # (bench `capacity`, issue 17).
        engine = create_async_engine(
            url, connect_args={"timeout": 30, "factory": RollbackOnClose}, pool_size=1, max_overflow=0
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


class RollbackOnClose(sqlite3.Connection):
    """A connection that ends its transaction before it closes.

    SQLAlchemy closes a connection without a rollback when a cancel (Stop, a vanished client)
    interrupts its transaction. sqlite3's `close()` then leaves the connection a zombie, still
    holding the write lock, for as long as any of its cursors lives (until the garbage collector
    finds them), and every other writer waits out the busy timeout and fails."""

    def close(self) -> None:
        if self.in_transaction:
            self.rollback()
        super().close()


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the streams read while a run writes; the busy timeout queues writers instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # We issue BEGIN ourselves (below) instead of the driver's deferred BEGIN.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for the write lock: SQLite
    # fails it at once with "database is locked" when another writer got there first. Taking the
    # lock at BEGIN makes every transaction wait its turn (busy timeout) instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration's revision, read from the file names (`NNNN_what.py` holds revision "NNNN"):
    finding a current schema then takes one query instead of loading alembic (~0.5 s of start-up)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    revision: str | None = connection.scalar(text("SELECT version_num FROM alembic_version"))
    return revision


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration; safe to call from several processes at once."""

    def upgrade(connection: Connection) -> None:
        if _revision(connection) == head_revision():
            return
        from alembic import command

        command.upgrade(alembic_config(connection), "head")

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Serialise concurrent start-ups so two processes never race the same migration.
            await connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7243901)")
        await connection.run_sync(upgrade)


def insert_on_conflict(session: AsyncSession, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `model` that can say what to do on a conflict (`on_conflict_do_nothing` or
    `_do_update`), in the dialect of the session's database: both spell it `ON CONFLICT`."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


async def get_or_404(
    session: AsyncSession,
    model: type[Row],
    key: object,
    what: str,
    *,
    belongs: Callable[[Row], bool] | None = None,
    within: str | None = None,
    with_for_update: bool | dict[str, bool] = False,
) -> Row:
    """The row of `model` with primary key `key`, or `NotFound` naming `what` ("project 3"). A row
    that fails `belongs` (another project's session, another user's token) is as absent as none;
    `within` names where it was looked for ("project 3")."""
    row = await session.get(model, key, with_for_update=with_for_update)
    if row is None or (belongs is not None and not belongs(row)):
        raise NotFound(f"{what} does not exist" + (f" in {within}" if within else ""))
    return row
