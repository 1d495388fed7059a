"""The engine: how SQLite transactions wait for each other, and a cancelled one never holds up the next."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tandem.persistence.database import create_engine, create_sessionmaker

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


async def test_sqlite_transactions_wait_their_turn_in_arrival_order(tmp_path: Path) -> None:
    """Each SQLite transaction takes the write lock; the ones waiting for it are served first come,
    first served, in the event loop. (Waiting in SQLite's busy handler instead, each sleeps up to
    100 ms between tries and the latest to come often wins: under load the writers convoyed.)"""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE log (n INTEGER)"))
        served: list[int] = []
        holding = asyncio.Event()
        release = asyncio.Event()

        async def write(n: int) -> None:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO log VALUES (:n)"), {"n": n})
                served.append(n)
                if n == 0:
                    holding.set()
                    await release.wait()

        first = asyncio.create_task(write(0))
        await holding.wait()
        waiting = []
        for n in range(1, 9):
            waiting.append(asyncio.create_task(write(n)))
            await asyncio.sleep(0.05)  # each has asked for the lock before the next comes
        release.set()
        await asyncio.gather(first, *waiting)
        assert served == list(range(9))
    finally:
        await engine.dispose()
