"""The import service on both databases: all of a project's files arrive in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import TooLarge
from tandem.persistence.models import Project, ProjectFile
from tandem.services.accounts import LOCAL, create_user
from tandem.services.imports import FolderSource, Importer, ImportPolicy
from tandem.services.principal import Principal
from tandem.workspace import importing
from tandem.workspace.files import FileLimits
from tandem.workspace.importing import Picked
from tests.support import UNLIMITED_PROJECTS

LIMITS = FileLimits(max_file_bytes=5_000_000, max_files=100, max_project_bytes=20_000_000)
POLICY = ImportPolicy(
    files=LIMITS,
    projects=UNLIMITED_PROJECTS,
    git_protocols=["file", "http"],
    git_internal_hosts=False,
    max_per_user=1_000,
    per_minute=1_000,
)


def make_importer(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, *, lease: float | None = None, **policy: Any
) -> Importer:
    return Importer(sessions, policy=replace(POLICY, **policy), scratch_root=tmp_path / "scratch", lease_seconds=lease)


@pytest.fixture
def importer(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> Importer:
    return make_importer(sessions, tmp_path)


async def member(sessions: async_sessionmaker[AsyncSession]) -> Principal:
    async with sessions.begin() as session:
        return Principal.of_user(
            await create_user(session, f"m{uuid.uuid4().hex[:8]}", "pw-long-enough", is_admin=False)
        )


def leftovers(scratch: Path) -> list[Path]:
    """Import folders in the scratch space (each process's folder and lock are its own)."""
    return list(scratch.glob("*/import-*"))


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        projects = await session.scalar(select(func.count()).select_from(Project))
        files = await session.scalar(select(func.count()).select_from(ProjectFile))
    return projects or 0, files or 0


async def test_a_file_that_grows_past_its_limit_mid_import_leaves_nothing(
    importer: Importer, sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "code"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):  # 3 MB each: two batches, the first stored before the second is read
        (folder / name).write_text("x" * 3_000_000)
    read = importing.read_folder

    async def growing(picked: list[Picked]) -> AsyncGenerator[list[tuple[str, bytes]]]:
        async for batch in read(picked):
            yield batch
            (folder / "b.txt").write_text("x" * 6_000_000)  # changed on disk after it was listed

    monkeypatch.setattr(importing, "read_folder", growing)
    before = await counts(sessions)
    with pytest.raises(TooLarge, match=r"'b.txt' is larger than 5000000 bytes"):
        await importer.run(LOCAL, "grows", FolderSource(path=folder), importer.scratch())
    assert await counts(sessions) == before
    assert leftovers(tmp_path / "scratch") == []


async def test_a_folder_is_stored_with_its_binary_files(
    importer: Importer, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "a.txt").write_text("héllo\n")
    (folder / "b.bin").write_bytes(b"\xff\xfe\x00\x01")
    imported = await importer.run(LOCAL, "mixed", FolderSource(path=folder), importer.scratch())
    assert (imported.files, imported.binary_files) == (2, 1)
    async with sessions() as session:
        rows = {
            row.path: row
            for row in await session.scalars(select(ProjectFile).where(ProjectFile.project_id == imported.project.id))
        }
    assert (rows["a.txt"].content, rows["a.txt"].data, rows["a.txt"].size) == ("héllo\n", None, 7)
    assert (rows["b.bin"].content, rows["b.bin"].data, rows["b.bin"].size) == ("", b"\xff\xfe\x00\x01", 4)
