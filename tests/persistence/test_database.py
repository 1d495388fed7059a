"""A transaction that a cancel interrupts (Stop, a vanished client) never holds up the next writer."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.persistence.database import create_sessionmaker

# Long enough that a cancel lands while the database is still working on it (~1 s on SQLite).
SLOW = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n"


async def test_a_transaction_cancelled_mid_statement_leaves_no_lock_behind(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE marks (id INTEGER PRIMARY KEY)"))
    sessions = create_sessionmaker(engine)
    slow_started = asyncio.Event()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement == SLOW:
            slow_started.set()

    async def write_then_read(mark: int) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO marks (id) VALUES (:id)"), {"id": mark})
            await session.execute(text(SLOW))

    for mark in range(1, 4):
        slow_started.clear()
        task = asyncio.create_task(write_then_read(mark))
        await slow_started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        # Well inside SQLite's 30 s busy timeout, a writer left holding the lock would run into.
        async with asyncio.timeout(10), sessions.begin() as session:
            await session.execute(text("INSERT INTO marks (id) VALUES (:id)"), {"id": 100 + mark})

    async with sessions() as session:
        kept = (await session.execute(text("SELECT id FROM marks ORDER BY id"))).scalars().all()
    assert kept == [101, 102, 103], "the cancelled transactions are rolled back, the later ones kept"
