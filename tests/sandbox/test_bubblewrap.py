"""The sandbox against what a model-written command may try: each is stopped by its limit, with a
message naming the setting, and nothing of it outlives the command."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tandem.sandbox.bubblewrap import Commands, probe
from tandem.sandbox.command import CommandResult, Sandbox
from tandem.settings import CommandLimits
from tests.conftest import SMALL_COMMANDS as SMALL
from tests.support import running


async def _sandbox(limits: CommandLimits, root: Path) -> Sandbox:
    found = await probe(limits, root)
    assert found.sandbox is not None, found.status.detail
    return found.sandbox


async def run(sandbox: Sandbox, command: str, *, project: dict[str, str] | None = None) -> CommandResult:
    printed: list[str] = []

    async def collect(text: str) -> None:
        printed.append(text)

    with sandbox.folder() as folder:
        for path, content in (project or {}).items():
            (folder / "project" / path).write_text(content)
        # Bounded here too: a broken limit fails the test instead of hanging it.
        result = await asyncio.wait_for(sandbox.run(command, folder=folder, on_output=collect), 60)
    assert "".join(printed) == result.output, "everything printed is streamed, in order"
    return result


async def test_a_command_runs_in_the_project_and_streams_its_output(sandbox: Sandbox) -> None:
    result = await run(sandbox, "pwd; cat a.txt; echo oops >&2; exit 3", project={"a.txt": "hello\n"})
    assert result.output == "/project\nhello\noops\n"
    assert (result.exit_code, result.stopped, result.ok) == (3, None, False)
    assert result.summary() == "Exit code 3"


async def test_the_network_is_off(sandbox: Sandbox) -> None:
    result = await run(sandbox, "python3 -c 'import urllib.request as u; u.urlopen(\"http://example.com\", timeout=5)'")
    assert result.exit_code == 1
    assert "TANDEM_COMMAND_NETWORK" in (result.note or "")
    # Not even the host's loopback: the command has a network namespace of its own.
    ports = await run(sandbox, "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | wc -l")
    assert ports.output.strip() in {"1", "2"}, "only the table headers: no listening socket of the host is seen"


async def test_nothing_outside_the_project_can_be_written_or_read(sandbox: Sandbox, tmp_path: Path) -> None:
    result = await run(
        sandbox,
        "touch /usr/x || touch /etc/x || echo refused; ls /root /work /home 2>&1 | head -3; "
        f"cat {tmp_path}/secret 2>&1; echo done > /tmp/t && cat /tmp/t",
    )
    assert "refused" in result.output
    assert "Read-only file system" in result.output
    assert "No such file or directory" in result.output
    assert "done" in result.output


async def test_no_secret_of_the_server_reaches_a_command(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    result = await run(sandbox, "env")
    assert "sk-must-not-leak" not in result.output
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in result.output


async def test_more_read_only_folders_are_readable_even_under_the_hosts_tmp(scratch_root: Path, tmp_path: Path) -> None:
    # A toolchain in a checkout under /tmp (as CI clones): the command's own /tmp must not hide it.
    toolchain = tmp_path / "toolchain"
    toolchain.mkdir()
    (toolchain / "tool.txt").write_text("the toolchain")
    toolchain.chmod(0o755)
    for parent in (tmp_path, *tmp_path.parents):  # the commands' user must be able to reach it
        if parent != Path("/"):
            parent.chmod(parent.stat().st_mode | 0o005)
    sandbox = await _sandbox(SMALL.model_copy(update={"read_only_paths": [toolchain]}), scratch_root)
    result = await run(sandbox, f"cat {toolchain}/tool.txt && touch {toolchain}/new")
    assert result.output.startswith("the toolchain"), result.output
    assert result.exit_code != 0, "read-only"
    assert not (toolchain / "new").exists()


async def test_a_fork_bomb_is_held_to_the_process_limit_and_the_wall_clock(scratch_root: Path) -> None:
    sandbox = await _sandbox(SMALL.model_copy(update={"wall_seconds": 3.0}), scratch_root)
    result = await run(sandbox, "f(){ f|f& }; f; sleep 60")
    # Its "Cannot fork" errors may reach the output limit first: either way it is stopped.
    assert result.exit_code is None
    assert any(setting in (result.stopped or "") for setting in ("WALL_SECONDS", "OUTPUT_BYTES")), result.stopped
    assert "TANDEM_COMMAND_PROCESSES" in (result.note or "")
    after = await run(sandbox, "echo the sandbox still works")
    assert after.output == "the sandbox still works\n"


async def test_allocating_4_gb_fails_at_the_memory_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "python3 -c 'b = bytearray(4 * 2**30)'")
    assert result.exit_code == 1
    assert "MemoryError" in result.output
    assert "TANDEM_COMMAND_MEMORY_MB" in (result.note or "")


async def test_printing_without_end_is_stopped_at_the_output_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "yes 'a line of output'")
    assert result.exit_code is None
    assert len(result.output.encode()) == SMALL.output_bytes
    assert "TANDEM_COMMAND_OUTPUT_BYTES" in (result.stopped or "")


async def test_a_command_that_sleeps_forever_is_stopped_at_the_wall_clock(scratch_root: Path) -> None:
    sandbox = await _sandbox(SMALL.model_copy(update={"wall_seconds": 1.0}), scratch_root)
    result = await run(sandbox, "echo started; sleep 3600")
    assert (result.exit_code, result.output) == (None, "started\n")
    assert result.stopped == "the command ran for 1 s, its limit (TANDEM_COMMAND_WALL_SECONDS)"


async def test_cpu_time_and_file_size_have_limits(sandbox: Sandbox) -> None:
    spin = await run(sandbox, "python3 -c 'while True: pass'")
    assert "TANDEM_COMMAND_CPU_SECONDS" in (spin.note or ""), spin
    big = await run(sandbox, "head -c 5000000 /dev/zero > big.bin")
    assert "TANDEM_COMMAND_FILE_MB" in (big.note or ""), big


async def test_cancelling_kills_every_process_of_the_command(sandbox: Sandbox) -> None:
    marker = "4242.5"  # a sleep no other process runs
    started = asyncio.Event()

    async def seen(text: str) -> None:
        started.set()

    with sandbox.folder() as folder:
        # A child in a session of its own, and a grandchild: neither is in the command's process group.
        command = f"setsid sleep {marker} & (sleep {marker} &) ; echo up; sleep {marker}"
        task = asyncio.create_task(sandbox.run(command, folder=folder, on_output=seen))
        await asyncio.wait_for(started.wait(), 30)
        for _ in range(500):
            if len(running("sleep", marker)) == 3:
                break
            await asyncio.sleep(0.02)
        assert len(running("sleep", marker)) == 3
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
    for _ in range(50):  # the kernel ends a PID namespace's processes as its first one dies
        if not running("sleep", marker):
            break
        await asyncio.sleep(0.02)
    assert running("sleep", marker) == []
    assert not folder.exists(), "the command's folder is removed"


async def test_start_up_removes_folders_left_by_a_killed_server(scratch_root: Path) -> None:
    await _sandbox(SMALL, scratch_root)
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    left = scratch_root / f"{dead.pid}-0123456789abcdef"
    (left / "project").mkdir(parents=True)
    own = scratch_root / f"{os.getpid()}-fedcba9876543210"
    own.mkdir()
    await _sandbox(SMALL, scratch_root)
    assert not left.exists()
    assert own.exists(), "a live process's folders are kept"


async def test_start_up_says_why_commands_cannot_run(scratch_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = Commands(limits=CommandLimits(sandbox="off"), root=scratch_root)
    assert commands.found.status.detail == "not checked yet"
    await commands.detect()
    assert (commands.found.sandbox, commands.found.status.available) == (None, False)
    assert "TANDEM_COMMAND_SANDBOX=off" in commands.found.status.detail

    monkeypatch.setenv("PATH", "/nonexistent")
    missing = await probe(CommandLimits(), scratch_root)
    assert missing.sandbox is None
    assert "apt install bubblewrap" in missing.status.detail


def _plant(root: Path) -> None:
    root.mkdir(mode=0o777)
    os.chown(root, 65534, 65534)


async def test_a_root_planted_by_another_user_is_refused(scratch_root: Path) -> None:
    _plant(scratch_root)
    found = await probe(SMALL, scratch_root)
    assert found.sandbox is None
    assert "not a folder owned by this server's user" in found.status.detail
