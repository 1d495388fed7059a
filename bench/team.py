"""The model layer alone: the latency scenario's runs through Tandem's `Team` in one process, with
no recorder, event log, HTTP or SSE (the agents' file tools still use a SQLite database). Its
chunks/s and CPU per chunk are the ceiling the whole server could reach on one core.

Uses the scripted model, which is NOT AI (a fixed script for tests and benchmarks).

    python -m bench.team '{"runs": 200, "message": "...", "stagger": 1.0}'   # prints one JSON line
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
from bench.wire import STAMP
from sqlalchemy import event

from tandem.agents.adapt.quirks import KnownQuirks
from tandem.agents.events import Delta
from tandem.container import build_team
from tandem.persistence.database import create_engine, create_sessionmaker, migrate
from tandem.persistence.models import Project
from tandem.services.model_settings import combine
from tandem.settings import Settings
from tandem.workspace.files import FileLimits, ProjectFiles


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _no_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # Code changes the Coder records name runs this harness never creates (there is no run manager).
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


async def measure(runs: int, message: str, stagger: float, data_dir: Path) -> dict[str, float]:
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'team.db'}")
    event.listen(engine.sync_engine, "connect", _no_foreign_keys)
    await migrate(engine)
    sessions = create_sessionmaker(engine)
    async with sessions.begin() as session:
        projects = [Project(name=f"bench {i}", template="blank") for i in range(runs)]
        session.add_all(projects)
        await session.flush()
        project_ids = [p.id for p in projects]
    settings = Settings()
    team = build_team(settings, combine(settings, None), KnownQuirks())
    chunks = 0

    async def run(index: int, project_id: int) -> None:
        nonlocal chunks
        await asyncio.sleep(stagger * index / runs)  # the same spread of starts as the client's
        files = ProjectFiles(sessions, project_id, limits=FileLimits.of(settings))
        async for item in team.run_stream(message, files=files, run_id=f"bench-{project_id}"):
            if isinstance(item, Delta):
                chunks += len(STAMP.findall(item.text))  # counted as the client counts them

    cpu, started = _cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(run(i, p) for i, p in enumerate(project_ids)))
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    await engine.dispose()
    return {"chunks": chunks, "seconds": seconds, "cpu_seconds": cpu}


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="tandem-bench-team-") as data_dir:
        os.environ["TANDEM_DATA_DIR"] = data_dir
        result = uvloop.run(measure(spec["runs"], spec["message"], spec["stagger"], Path(data_dir)))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
