"""File tools for the agents. Every path goes through `project_path`; a refused path or a missing
file is a `ToolFailed` the agent reads and adapts to, never an exception that ends the run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic_ai import RunContext
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.usage import RunUsage

from tandem.agents.events import Delta, FileChanged, TeamEvent
from tandem.errors import TandemError
from tandem.events import ChangeType
from tandem.sandbox.command import Sandbox
from tandem.workspace.checkout import check_in, check_out
from tandem.workspace.files import ProjectFiles


@dataclass(kw_only=True)
class TeamDeps:
    files: ProjectFiles
    run_id: str
    tool_output_chars: int
    search_seconds: float
    emit: Callable[[TeamEvent], Awaitable[None]]
    delegate: Callable[[str, RunUsage], Awaitable[str]]
    sandbox: Sandbox | None = None
    # Tool output is truncated for the model only; the stream and history get the full text.
    full_outputs: dict[str, str] = field(default_factory=dict)


Ctx = RunContext[TeamDeps]


def _for_model(ctx: Ctx, output: str) -> str:
    limit = ctx.deps.tool_output_chars
    if len(output) <= limit:
        return output
    if ctx.tool_call_id is not None:
        ctx.deps.full_outputs[ctx.tool_call_id] = output
    return f"{output[:limit]}\n[… output truncated: {len(output) - limit} more characters not shown]"


def _failed(error: TandemError) -> ToolFailed:
    return ToolFailed(f"Error: {error.message}")


async def list_files(ctx: Ctx) -> str:
    """List every file in the project with its size in bytes."""
    files = await ctx.deps.files.list_files()
    if not files:
        return "The project has no files."
    return _for_model(
        ctx, "\n".join(f"{file.path} ({file.size} bytes{', binary' if file.binary else ''})" for file in files)
    )


async def read_file(ctx: Ctx, path: str) -> str:
    """Read a file.

    Args:
        path: Path relative to the project root, e.g. `src/App.tsx`.
    """
    try:
        file = await ctx.deps.files.read(path)
    except TandemError as error:
        raise _failed(error) from None
    return _for_model(ctx, file.content)


async def search_files(ctx: Ctx, pattern: str) -> str:
    """Find lines matching a regular expression in every file of the project.

    Args:
        pattern: A Python regular expression, or plain text.
    """
    try:
        hits = await ctx.deps.files.search(pattern, seconds=ctx.deps.search_seconds)
    except TandemError as error:
        raise _failed(error) from None
    if not hits:
        return f"No line matches {pattern!r}."
    return _for_model(ctx, "\n".join(f"{hit.path}:{hit.line}: {hit.text}" for hit in hits))


async def _changed(ctx: Ctx, path: str, change_id: int | None, kind: ChangeType) -> None:
    if change_id is not None:
        await ctx.deps.emit(FileChanged(path=path, change_type=kind, change_id=change_id))


async def write_file(ctx: Ctx, path: str, content: str) -> str:
    """Create a file or replace its whole content.

    Args:
        path: Path relative to the project root.
        content: The complete new content of the file.
    """
    try:
        info, change = await ctx.deps.files.write(path, content, run_id=ctx.deps.run_id)
    except TandemError as error:
        raise _failed(error) from None
    if change is not None:
        await _changed(ctx, info.path, change.id, change.change_type)  # type: ignore[arg-type]
    return f"Wrote {info.path} ({info.size} bytes)."


async def edit_file(ctx: Ctx, path: str, old_text: str, new_text: str) -> str:
    """Replace one exact occurrence of `old_text` in a file with `new_text`.

    Args:
        path: Path relative to the project root.
        old_text: Text that occurs exactly once in the file, including whitespace.
        new_text: The replacement.
    """
    try:
        file = await ctx.deps.files.read(path)
        count = file.content.count(old_text) if old_text else 0
        if count != 1:
            found = "does not occur" if count == 0 else f"occurs {count} times"
            raise ToolFailed(f"Error: old_text {found} in {file.path}; give text that occurs exactly once.")
        info, change = await ctx.deps.files.write(
            path, file.content.replace(old_text, new_text, 1), run_id=ctx.deps.run_id
        )
    except TandemError as error:
        raise _failed(error) from None
    if change is not None:
        await _changed(ctx, info.path, change.id, "modified")
    return f"Edited {info.path} ({info.size} bytes)."


async def delete_file(ctx: Ctx, path: str) -> str:
    """Delete a file.

    Args:
        path: Path relative to the project root.
    """
    try:
        change = await ctx.deps.files.delete(path, run_id=ctx.deps.run_id)
    except TandemError as error:
        raise _failed(error) from None
    if change is not None:
        await _changed(ctx, change.path, change.id, "deleted")
    return f"Deleted {path}."


async def run_command(ctx: Ctx, command: str) -> str:
    """Run a shell command on a copy of the project: tests, a build, a script.

    The project is the working directory. The command runs in a sandbox: no network, a read-only
    system (python3, node and the usual tools are there), limits on time, memory, processes and
    output. Files it creates, changes or deletes become changes of the project, except dependency
    and build folders (node_modules, __pycache__, dist, build…). A failing command is reported with
    its output and exit code.

    Args:
        command: A `/bin/sh` command line, e.g. `python3 -m pytest -q` or `node test.js`.
    """
    sandbox = ctx.deps.sandbox
    assert sandbox is not None, "run_command is only offered with a sandbox"

    async def stream(text: str) -> None:
        await ctx.deps.emit(Delta(agent="Coder", kind="tool_output", text=text, tool_call_id=ctx.tool_call_id))

    with sandbox.folder() as folder:
        project = folder / "project"
        before = await check_out(ctx.deps.files, project)
        result = await sandbox.run(command, folder=folder, on_output=stream)
        returned = await check_in(ctx.deps.files, project, before, run_id=ctx.deps.run_id)
    for change in returned.changes:
        await _changed(ctx, change.path, change.change_id, change.change_type)
    report = [result.output.rstrip("\n"), result.summary()]
    if returned.changes:
        report.append("Files changed: " + ", ".join(f"{c.path} ({c.change_type})" for c in returned.changes))
    if returned.refused:
        report.append("Not taken into the project: " + "; ".join(returned.refused))
    text = _for_model(ctx, "\n".join(part for part in report if part))
    if not result.ok:
        raise ToolFailed(text)
    return text


async def hand_off_to_coder(ctx: Ctx, plan: str) -> str:
    """Give the Coder a plan to carry out; returns the Coder's report when it is done.

    Args:
        plan: What the Coder must do: the user's request, the files involved and the steps.
    """
    return await ctx.deps.delegate(plan, ctx.usage)


READ_TOOLS = (list_files, read_file, search_files)
WRITE_TOOLS = (write_file, edit_file, delete_file)
