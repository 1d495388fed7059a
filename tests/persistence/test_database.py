"""The engine: how SQLite transactions wait for each other."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from tandem.persistence.database import create_engine


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
