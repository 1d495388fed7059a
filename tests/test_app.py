"""Start-up stays light: what the server needs before its first answer, and nothing else (bench/startup.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Each costs 0.25–1.5 s of import on this machine; none is needed to answer the first request.
HEAVY = ("pydantic_ai", "openai", "anthropic", "redis", "httpx", "alembic")

START = """
import asyncio, json, sys
from tandem.app import create_app
from tandem.persistence.database import migrate
from tandem.services.models import model_status
from tandem.settings import Settings

async def start() -> None:
    settings = Settings()
    container = create_app(settings).state.container
    await migrate(container.engine)
    await container.commands.detect()
    await container.runs.begin()
    await model_status(await container.model_settings.setup())
    await container.runs.shutdown()
    await container.engine.dispose()

asyncio.run(start())
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _loaded(data_dir: Path, **env: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", START],
        env={**os.environ, "TANDEM_DATA_DIR": str(data_dir), "TANDEM_MODEL": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("model", ["", "scripted"])
def test_a_restart_loads_no_model_library_and_no_migration_tool(tmp_path: Path, model: str) -> None:
    _loaded(tmp_path)  # creates and migrates the database
    assert _loaded(tmp_path, TANDEM_MODEL=model).isdisjoint(HEAVY)


def test_a_new_database_is_migrated_with_alembic(tmp_path: Path) -> None:
    assert "alembic" in _loaded(tmp_path)


WARM = """
import asyncio, gc, threading
from tandem.app import create_app

async def start() -> None:
    app = create_app()
    async with app.router.lifespan_context(app):
        next(t for t in threading.enumerate() if t.name == "load-agents").join(60)
        print(gc.get_freeze_count())

asyncio.run(start())
"""


def test_what_start_up_loaded_is_frozen_out_of_the_collectors_way(tmp_path: Path) -> None:
    """A full collection walking the loaded libraries stalled every stream for ~230 ms (bench capacity)."""
    done = subprocess.run(
        [sys.executable, "-c", WARM],
        env={**os.environ, "TANDEM_DATA_DIR": str(tmp_path), "TANDEM_MODEL": "scripted"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert int(done.stdout.splitlines()[-1]) > 100_000, "pydantic-ai and the SDKs, frozen after the warm-up"


@pytest.mark.parametrize("module", ["fastapi.routing", "sqlalchemy.orm.session", "pydantic_ai.agent", "tandem.app"])
def test_the_install_leaves_what_the_server_imports_compiled(module: str) -> None:
    # Where PYTHONDONTWRITEBYTECODE is set, as on this machine, nothing else caches bytecode: every start
    # compiled ~9,500 modules from source again (bench/README.md, Start-up).
    source = importlib.util.find_spec(module)
    assert source is not None
    assert source.origin is not None
    assert Path(importlib.util.cache_from_source(source.origin)).is_file(), f"{module} is not compiled: make install"
