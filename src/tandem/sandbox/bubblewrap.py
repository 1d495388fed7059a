"""Commands isolated with bubblewrap (`bwrap`): Linux namespaces, no daemon, no root needed.

A command sees the host's system folders read-only (`/usr`, `/bin`, `/lib`, `/sbin`, `/etc` and
any `TANDEM_COMMAND_READ_ONLY_PATHS`), its copy of the project at `/project` (writable, the working
directory) and a private `/tmp`; nothing else of the host. It has its own process, network (only
loopback, unless `TANDEM_COMMAND_NETWORK`), IPC and host-name namespaces, an empty environment (no
API key can leak into it) and kernel limits (`prlimit`) on CPU time, memory, processes and file
size; wall time and output are limited here. It dies with the server process.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import re
import shutil
import signal
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tandem.sandbox.command import CommandResult, OutputSink, Sandbox, SandboxStatus
from tandem.sandbox.scratch import Scratch
from tandem.settings import CommandLimits

logger = logging.getLogger(__name__)

SYSTEM_PATHS = ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc")
_READ_BYTES = 65_536
_PROBE_SECONDS = 20.0
_MEMORY_FAILURE = re.compile(r"MemoryError|Cannot allocate memory|out of memory|bad_alloc", re.IGNORECASE)
_NETWORK_FAILURE = re.compile(
    r"Network is unreachable|Temporary failure in name resolution|Name or service not known|EAI_AGAIN|ENOTFOUND"
    r"|Could not resolve host",
    re.IGNORECASE,
)
_PROCESS_FAILURE = re.compile(
    r"can(no|')t fork|fork.*(Resource temporarily unavailable|retry)|EAGAIN|BlockingIOError", re.IGNORECASE
)


@dataclass(frozen=True, kw_only=True)
class Tools:
    """The programs a sandboxed command is started with, found on the server's PATH."""

    bwrap: str
    prlimit: str
    setpriv: str
    uid: int | None
    """The user commands run as, when the server runs as root."""


@dataclass(frozen=True, kw_only=True)
class Probe:
    """What start-up found: a working sandbox, or why there is none."""

    sandbox: Sandbox | None
    status: SandboxStatus


class Bubblewrap:
    def __init__(self, limits: CommandLimits, *, scratch: Scratch, tools: Tools) -> None:
        self._limits = limits
        self._scratch = scratch
        self._tools = tools

    def folder(self) -> AbstractContextManager[Path]:
        return self._scratch.folder()

    def argv(self, command: str, folder: Path) -> list[str]:
        limits = self._limits
        memory = limits.memory_mb * 1024 * 1024
        # Soft CPU limit first: the command gets SIGXCPU, which says which limit it hit.
        tools = self._tools
        # As root, the command's user is another: the kernel's process limit does not bind root.
        user = (
            []
            if tools.uid is None
            else [tools.setpriv, f"--reuid={tools.uid}", f"--regid={tools.uid}", "--clear-groups"]
        )
        prlimit = [
            tools.prlimit,
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
            f"--data={memory}",
            f"--nproc={limits.processes}",
            f"--fsize={limits.file_mb * 1024 * 1024}",
            "--core=0",
            "--",
        ]
        bwrap = [tools.bwrap, "--unshare-all", "--die-with-parent", "--new-session"]
        if limits.network:
            bwrap.append("--share-net")
        for path in SYSTEM_PATHS:
            bwrap += ["--ro-bind-try", path, path]
        bwrap += [
            "--proc", "/proc",
            "--dev", "/dev",
            "--bind", str(folder / "tmp"), "/tmp",
            "--bind", str(folder / "project"), "/project",
        ]  # fmt: skip
        # After the private /tmp: a folder under the host's /tmp (a checkout there) would be hidden by it.
        for path in map(str, limits.read_only_paths):
            bwrap += ["--ro-bind-try", path, path]
        bwrap += [
            "--chdir", "/project",
            "--clearenv",
            "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
            "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8",
            "--setenv", "TERM", "dumb",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--setenv", "CI", "1",
            "--",
            "/bin/sh", "-c", command,
        ]  # fmt: skip
        return [*user, *prlimit, *bwrap]

    async def run(self, command: str, *, folder: Path, on_output: OutputSink) -> CommandResult:
        limits = self._limits
        await asyncio.to_thread(self._scratch.hand_over, folder / "project")
        process = await asyncio.create_subprocess_exec(
            *self.argv(command, folder),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parts: list[str] = []
        printed = 0
        stopped: str | None = None
        try:
            async with asyncio.timeout(limits.wall_seconds):
                while chunk := await process.stdout.read(_READ_BYTES):
                    printed += len(chunk)
                    over = printed - limits.output_bytes
                    if over > 0:
                        chunk = chunk[: len(chunk) - over]
                    if text := decoder.decode(chunk):
                        parts.append(text)
                        await on_output(text)
                    if over > 0:
                        stopped = (
                            f"the command printed more than {limits.output_bytes} bytes, its limit "
                            "(TANDEM_COMMAND_OUTPUT_BYTES)"
                        )
                        break
                if stopped is None:
                    await process.wait()
        except TimeoutError:
            stopped = f"the command ran for {limits.wall_seconds:g} s, its limit (TANDEM_COMMAND_WALL_SECONDS)"
        finally:
            # Every process of the command is in this session or the sandbox's PID namespace, which
            # ends with its first process; either way, one signal ends them all.
            if process.returncode is None:
                _kill(process.pid)
            # To the end of the output too, so the pipe is closed here, not by the garbage collector.
            await asyncio.shield(process.communicate())
        output = "".join(parts) + decoder.decode(b"", final=True)
        code = None if stopped is not None else process.returncode
        return CommandResult(exit_code=code, output=output, stopped=stopped, note=self._explain(code, output))

    def _explain(self, code: int | None, output: str) -> str | None:
        """The likely cause of a failure (`code` is `None` when the command was stopped)."""
        limits = self._limits
        failed = code != 0
        if code == 128 + signal.SIGXCPU:
            return f"It used {limits.cpu_seconds} s of CPU time, its limit (TANDEM_COMMAND_CPU_SECONDS)."
        if code == 128 + signal.SIGXFSZ:
            return f"It wrote a file larger than {limits.file_mb} MB, its limit (TANDEM_COMMAND_FILE_MB)."
        if failed and _MEMORY_FAILURE.search(output):
            return f"It ran out of memory: each process may use {limits.memory_mb} MB (TANDEM_COMMAND_MEMORY_MB)."
        if failed and _PROCESS_FAILURE.search(output):
            return f"It could not start more processes: the limit is {limits.processes} (TANDEM_COMMAND_PROCESSES)."
        if failed and not limits.network and _NETWORK_FAILURE.search(output):
            return "Commands have no network here (TANDEM_COMMAND_NETWORK=true allows it)."
        if code and code > 128:
            return f"It was killed by signal {code - 128}."
        return None


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def probe(limits: CommandLimits, root: Path) -> Probe:
    """Find out whether commands can run here, by running one."""

    def unavailable(detail: str) -> Probe:
        return Probe(sandbox=None, status=SandboxStatus(available=False, detail=detail))

    if limits.sandbox == "off":
        return unavailable("commands are turned off (TANDEM_COMMAND_SANDBOX=off)")
    bwrap, prlimit, setpriv = shutil.which("bwrap"), shutil.which("prlimit"), shutil.which("setpriv")
    if bwrap is None:
        return unavailable("bubblewrap is not installed: install the `bubblewrap` package (apt install bubblewrap)")
    if prlimit is None or setpriv is None:
        return unavailable("`prlimit` or `setpriv` is not installed: install the `util-linux` package")
    uid = limits.uid if os.geteuid() == 0 else None
    scratch = Scratch(root, uid=uid)
    sandbox = Bubblewrap(limits, scratch=scratch, tools=Tools(bwrap=bwrap, prlimit=prlimit, setpriv=setpriv, uid=uid))
    try:
        scratch.prepare()
        scratch.sweep()
    except OSError as error:
        return unavailable(f"no folder for commands at {scratch.root}: {error} (TANDEM_COMMAND_SCRATCH_DIR)")
    output: list[str] = []

    async def collect(text: str) -> None:
        output.append(text)

    try:
        with sandbox.folder() as folder:
            result = await asyncio.wait_for(
                sandbox.run("echo sandbox-ok", folder=folder, on_output=collect), _PROBE_SECONDS
            )
    except Exception as error:  # whatever goes wrong here, the server starts, without commands
        return unavailable(f"a test command could not run: {error!r}")
    if not result.ok or result.output.strip() != "sandbox-ok":
        reason = result.output.strip().splitlines()[-1:] or [result.summary()]
        return unavailable(
            f"bubblewrap cannot make a sandbox here ({reason[0]}); it needs unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1, or an AppArmor profile allowing bwrap)"
        )
    network = "network allowed" if limits.network else "no network"
    return Probe(
        sandbox=sandbox,
        status=SandboxStatus(
            available=True,
            detail=f"bubblewrap: {network}, read-only system, {limits.wall_seconds:g} s, {limits.memory_mb} MB, "
            f"{limits.processes} processes per command",
        ),
    )


def _unchecked() -> Probe:
    return Probe(sandbox=None, status=SandboxStatus(available=False, detail="not checked yet"))


@dataclass(kw_only=True)
class Commands:
    """Whether the Coder can run commands in this process, found out once at start-up."""

    limits: CommandLimits
    root: Path
    found: Probe = field(default_factory=_unchecked)

    async def detect(self) -> None:
        self.found = await probe(self.limits, self.root)
        if not self.found.status.available:
            logger.warning("The Coder cannot run commands: %s", self.found.status.detail)
