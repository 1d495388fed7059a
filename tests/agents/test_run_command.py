"""The Coder's `run_command` tool: the project's files go into the sandbox, what the command prints
streams into the run, and what it changes comes back as the run's changes."""

from __future__ import annotations

import pytest
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents import tools
from tandem.agents.events import Delta, FileChanged, TeamEvent
from tandem.agents.tools import TeamDeps
from tandem.sandbox.command import Sandbox
from tandem.workspace.files import FileLimits, ProjectFiles
from tests.support import SeededRun

one_backend = pytest.mark.parametrize("sessions", ["sqlite"], indirect=True)
LIMITS = FileLimits(max_file_bytes=2_000, max_files=20, max_project_bytes=20_000)


@pytest.fixture
def files(sessions: async_sessionmaker[AsyncSession], run: SeededRun) -> ProjectFiles:
    return ProjectFiles(sessions, run.project_id, limits=LIMITS)


@pytest.fixture
def emitted() -> list[TeamEvent]:
    return []


@pytest.fixture
def ctx(files: ProjectFiles, run: SeededRun, emitted: list[TeamEvent], sandbox: Sandbox) -> RunContext[TeamDeps]:
    async def emit(event: TeamEvent) -> None:
        emitted.append(event)

    async def delegate(plan: str, usage: RunUsage) -> str:
        raise AssertionError("the Coder does not delegate")

    deps = TeamDeps(
        files=files,
        run_id=run.id,
        tool_output_chars=5_000,
        search_seconds=5,
        emit=emit,
        delegate=delegate,
        sandbox=sandbox,
    )
    return RunContext(deps=deps, model=TestModel(), usage=RunUsage(), tool_call_id="call-7")


@one_backend
async def test_output_streams_and_changed_files_come_back_as_the_runs_changes(
    ctx: RunContext[TeamDeps], files: ProjectFiles, emitted: list[TeamEvent]
) -> None:
    await files.write("keep.txt", "same\n")
    await files.write("edit.txt", "before\n")
    await files.write("gone.txt", "bye\n")
    report = await tools.run_command(
        ctx, "cat edit.txt; echo after > edit.txt; rm gone.txt; mkdir -p src; echo new > src/new.txt; echo ok"
    )
    assert report == (
        "before\nok\nExit code 0\nFiles changed: edit.txt (modified), src/new.txt (created), gone.txt (deleted)"
    )
    deltas = [event for event in emitted if isinstance(event, Delta)]
    assert {(d.agent, d.kind, d.tool_call_id) for d in deltas} == {("Coder", "tool_output", "call-7")}
    assert "".join(d.text for d in deltas) == "before\nok\n"
    changed = [event for event in emitted if isinstance(event, FileChanged)]
    assert [(c.path, c.change_type) for c in changed] == [
        ("edit.txt", "modified"),
        ("src/new.txt", "created"),
        ("gone.txt", "deleted"),
    ]
    assert len({c.change_id for c in changed}) == 3
    assert [f.path for f in await files.list_files()] == ["edit.txt", "keep.txt", "src/new.txt"]
    assert (await files.read("edit.txt")).content == "after\n"


@one_backend
async def test_a_failing_command_is_a_tool_failure_the_model_reads_with_its_output(
    ctx: RunContext[TeamDeps], files: ProjectFiles
) -> None:
    with pytest.raises(ToolFailed) as failed:
        await tools.run_command(ctx, "echo partial > out.txt; echo 'AssertionError: 1 != 2' >&2; exit 1")
    assert failed.value.message == ("AssertionError: 1 != 2\nExit code 1\nFiles changed: out.txt (created)"), (
        "what it wrote before failing is kept, as a terminal would"
    )
    assert [f.path for f in await files.list_files()] == ["out.txt"]


@one_backend
async def test_what_the_project_cannot_hold_is_named_and_left_out(
    ctx: RunContext[TeamDeps], files: ProjectFiles
) -> None:
    report = await tools.run_command(
        ctx,
        "mkdir -p node_modules/x __pycache__ dist && echo dep > node_modules/x/i.js && echo c > __pycache__/m.pyc"
        " && echo d > dist/app.js && head -c 3000 /dev/zero | tr '\\0' a > big.txt"
        " && printf '\\377\\376' > blob.bin && ln -s /etc/passwd link && echo fine > fine.txt",
    )
    assert report.splitlines()[1:] == [
        "Files changed: fine.txt (created)",
        "Not taken into the project: link: not a regular file; big.txt: larger than 2000 bytes "
        "(TANDEM_MAX_FILE_BYTES); blob.bin: a binary file (only text is taken back)",
    ]
    assert [f.path for f in await files.list_files()] == ["fine.txt"]


@one_backend
async def test_pytest_runs_on_a_python_project(ctx: RunContext[TeamDeps], files: ProjectFiles) -> None:
    await files.write("calc.py", "def add(a, b):\n    return a + b\n")
    await files.write("test_calc.py", "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    report = await tools.run_command(ctx, "python3 -m pytest -q -p no:cacheprovider")
    assert "1 passed" in report
    assert report.endswith("Exit code 0"), "pytest leaves nothing behind that the project would take"


@one_backend
async def test_node_runs_on_a_javascript_project(ctx: RunContext[TeamDeps], files: ProjectFiles) -> None:
    await files.write("sum.js", "module.exports = (a, b) => a + b;\n")
    await files.write(
        "test.js", "const sum = require('./sum');\nif (sum(2, 3) !== 5) process.exit(1);\nconsole.log('ok');\n"
    )
    assert await tools.run_command(ctx, "node test.js") == "ok\nExit code 0"
