"""The agents' file tools, called as pydantic-ai calls them: what the model reads back, the
`FileChanged` events a write emits, and the failures the model reads instead of the run ending."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from pydantic_ai import RunContext
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage

from tandem.agents import tools
from tandem.agents.events import FileChanged, TeamEvent
from tandem.agents.tools import TeamDeps
from tandem.workspace.files import ProjectFiles
from tests.support import SeededRun

# The database is not what these tests are about: one backend keeps them fast enough to run per mutant.
one_backend = pytest.mark.parametrize("sessions", ["sqlite"], indirect=True)

OUTPUT_CHARS = 30

Context = Callable[..., RunContext[TeamDeps]]


@pytest.fixture
def emitted() -> list[TeamEvent]:
    return []


@pytest.fixture
def ctx(project_files: ProjectFiles, run: SeededRun, emitted: list[TeamEvent]) -> Context:
    """A tool call's context, as pydantic-ai passes it: `ctx()` or `ctx(tool_call_id=None)`."""

    async def emit(event: TeamEvent) -> None:
        emitted.append(event)

    async def delegate(plan: str, usage: RunUsage) -> str:
        return f"coder did {plan!r} after {usage.requests} requests"

    deps = TeamDeps(
        files=project_files,
        run_id=run.id,
        tool_output_chars=OUTPUT_CHARS,
        search_seconds=30,
        emit=emit,
        delegate=delegate,
    )

    def make(tool_call_id: str | None = "call-1") -> RunContext[TeamDeps]:
        return RunContext(deps=deps, model=TestModel(), usage=RunUsage(requests=3), tool_call_id=tool_call_id)

    return make


async def failure(call: Awaitable[str]) -> str:
    with pytest.raises(ToolFailed) as failed:
        await call
    return failed.value.message


@one_backend
async def test_listing_names_each_file_and_its_size(ctx: Context, project_files: ProjectFiles) -> None:
    assert await tools.list_files(ctx()) == "The project has no files."
    await project_files.write("b", "bé")
    await project_files.write("a", "a")
    assert await tools.list_files(ctx()) == "a (1 bytes)\nb (3 bytes)"


@one_backend
async def test_output_past_the_limit_is_cut_for_the_model_and_kept_whole_for_the_stream(
    ctx: Context, project_files: ProjectFiles
) -> None:
    await project_files.write("exact.txt", "x" * OUTPUT_CHARS)
    await project_files.write("long.txt", "0123456789" * 4)
    context = ctx()
    assert await tools.read_file(context, "exact.txt") == "x" * OUTPUT_CHARS
    assert context.deps.full_outputs == {}, "output within the limit is not kept aside"
    assert await tools.read_file(context, "long.txt") == (
        "012345678901234567890123456789\n[… output truncated: 10 more characters not shown]"
    )
    assert context.deps.full_outputs == {"call-1": "0123456789" * 4}
    anonymous = ctx(tool_call_id=None)
    anonymous.deps.full_outputs.clear()
    assert (await tools.read_file(anonymous, "long.txt")).startswith("012345678901234567890123456789\n[…")
    assert anonymous.deps.full_outputs == {}, "nothing to key it by"


@one_backend
async def test_listing_and_search_output_is_cut_too(ctx: Context, project_files: ProjectFiles) -> None:
    await project_files.write("a.txt", "needle\n")
    await project_files.write("b.txt", "needle\n")
    assert await tools.search_files(ctx(), "needle") == (
        "a.txt:1: needle\nb.txt:1: needl\n[… output truncated: 1 more characters not shown]"
    )
    assert (
        await tools.list_files(ctx())
        == "a.txt (7 bytes)\nb.txt (7 bytes\n[… output truncated: 1 more characters not shown]"
    )


@one_backend
async def test_reading_a_missing_file_or_an_unsafe_path_is_a_failure_the_model_reads(ctx: Context) -> None:
    assert await failure(tools.read_file(ctx(), "nope.txt")) == "Error: file 'nope.txt' does not exist"
    assert await failure(tools.read_file(ctx(), "../etc/passwd")) == (
        "Error: path '../etc/passwd' contains '..'; paths must stay inside the project"
    )


@one_backend
async def test_search_reports_hits_none_and_failures(ctx: Context, project_files: ProjectFiles) -> None:
    await project_files.write("a.py", "x = 1\ny = 2\n")
    assert await tools.search_files(ctx(), "y =") == "a.py:2: y = 2"
    assert await tools.search_files(ctx(), "zzz") == "No line matches 'zzz'."
    context = ctx()
    context.deps.search_seconds = 0.2
    await project_files.write("evil.txt", "a" * 40 + "!")
    assert await failure(tools.search_files(context, "(a+)+$")) == (
        "Error: search took longer than 0.2 s (TANDEM_LIMIT_SEARCH_SECONDS); use a simpler pattern or plain text"
    )


@one_backend
async def test_writes_report_the_size_and_emit_each_change(
    ctx: Context, project_files: ProjectFiles, emitted: list[TeamEvent]
) -> None:
    assert await tools.write_file(ctx(), "./a.txt", "héllo") == "Wrote a.txt (6 bytes)."
    assert await tools.write_file(ctx(), "a.txt", "héllo") == "Wrote a.txt (6 bytes).", "no change, no event"
    assert await tools.write_file(ctx(), "a.txt", "bye") == "Wrote a.txt (3 bytes)."
    assert [(e.path, e.change_type) for e in emitted if isinstance(e, FileChanged)] == [
        ("a.txt", "created"),
        ("a.txt", "modified"),
    ]
    assert len(emitted) == 2
    assert emitted[0].change_id < emitted[1].change_id
    assert await failure(tools.write_file(ctx(), "big.txt", "x" * 101)) == (
        "Error: file is 101 bytes; the limit is 100 bytes (TANDEM_MAX_FILE_BYTES)"
    )
    assert (await project_files.read("a.txt")).content == "bye"


@one_backend
async def test_an_edit_replaces_exactly_one_occurrence(
    ctx: Context, project_files: ProjectFiles, emitted: list[TeamEvent]
) -> None:
    _, _created = await project_files.write("a.txt", "one two two")
    assert await tools.edit_file(ctx(), "a.txt", "one", "three") == "Edited a.txt (13 bytes)."
    assert (await project_files.read("a.txt")).content == "three two two"
    assert len(emitted) == 1
    assert isinstance(emitted[0], FileChanged)
    assert (emitted[0].path, emitted[0].change_type) == ("a.txt", "modified")
    assert await tools.edit_file(ctx(), "a.txt", "three", "three") == "Edited a.txt (13 bytes)."
    assert len(emitted) == 1, "an edit that changes nothing emits nothing"


@one_backend
async def test_an_edit_whose_text_is_missing_or_repeated_changes_nothing(
    ctx: Context, project_files: ProjectFiles, emitted: list[TeamEvent]
) -> None:
    await project_files.write("a.txt", "one two two")
    assert await failure(tools.edit_file(ctx(), "./a.txt", "two", "2")) == (
        "Error: old_text occurs 2 times in a.txt; give text that occurs exactly once."
    )
    for missing in ("four", ""):
        assert await failure(tools.edit_file(ctx(), "a.txt", missing, "4")) == (
            "Error: old_text does not occur in a.txt; give text that occurs exactly once."
        )
    assert await failure(tools.edit_file(ctx(), "b.txt", "x", "y")) == "Error: file 'b.txt' does not exist"
    assert await failure(tools.edit_file(ctx(), "a.txt", "one", "x" * 100)) == (
        "Error: file is 108 bytes; the limit is 100 bytes (TANDEM_MAX_FILE_BYTES)"
    )
    assert (await project_files.read("a.txt")).content == "one two two"
    assert emitted == []


@one_backend
async def test_a_delete_emits_its_change(ctx: Context, project_files: ProjectFiles, emitted: list[TeamEvent]) -> None:
    await project_files.write("dir/a.txt", "a")
    assert await tools.delete_file(ctx(), "dir//a.txt") == "Deleted dir//a.txt."
    assert [(e.path, e.change_type) for e in emitted if isinstance(e, FileChanged)] == [("dir/a.txt", "deleted")]
    assert await project_files.list_files() == []
    assert await failure(tools.delete_file(ctx(), "dir/a.txt")) == "Error: file 'dir/a.txt' does not exist"


@one_backend
async def test_the_hand_off_gives_the_coder_the_plan_and_the_run_usage(ctx: Context) -> None:
    assert await tools.hand_off_to_coder(ctx(), "write x") == "coder did 'write x' after 3 requests"


def test_the_planner_reads_and_only_the_coder_writes() -> None:
    assert (tools.list_files, tools.read_file, tools.search_files) == tools.READ_TOOLS
    assert (tools.write_file, tools.edit_file, tools.delete_file) == tools.WRITE_TOOLS
