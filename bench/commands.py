"""The Coder's command sandbox (issue 16): how long a command takes to start and how long Stop takes.

`uv run python -m bench.commands` (`--repeats N`). Baseline, same run: the same `/bin/sh -c true`
started as a plain child process, without any isolation. Figures: median and worst of N.
- start: `true` from the call to its exit code (bubblewrap's namespaces, `prlimit`, `setpriv`);
- stop: from cancelling a running `sleep` (with a child in a session of its own) to every process
  of it gone. Targets: a sandbox that starts in well under a second, Stop within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.report import print_figures

from tandem.sandbox.bubblewrap import probe
from tandem.sandbox.command import Sandbox
from tandem.settings import CommandLimits

Timed = Callable[[], Awaitable[float]]


async def _nothing(_text: str) -> None:
    pass


async def plain_start() -> float:
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec("/bin/sh", "-c", "true")
    await process.wait()
    return time.perf_counter() - start


def sandboxed_start(sandbox: Sandbox) -> Timed:
    async def timed() -> float:
        with sandbox.folder() as folder:
            start = time.perf_counter()
            await sandbox.run("true", folder=folder, on_output=_nothing)
            return time.perf_counter() - start

    return timed


def _gone(marker: str) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                    return False
            except OSError:
                continue
    return True


def stop(sandbox: Sandbox) -> Timed:
    async def timed() -> float:
        marker = "5151.5"
        up = asyncio.Event()

        async def seen(_text: str) -> None:
            up.set()

        with sandbox.folder() as folder:
            command = f"setsid sleep {marker} & echo up; sleep {marker}"
            task = asyncio.create_task(sandbox.run(command, folder=folder, on_output=seen))
            await up.wait()
            start = time.perf_counter()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for _ in range(10_000):  # /proc can only be polled
                if _gone(marker):
                    return time.perf_counter() - start
                await asyncio.sleep(0.001)
            raise RuntimeError("the command outlived Stop by 10 s")

    return timed


async def measure(timed: Timed, repeats: int) -> tuple[float, float]:
    samples = [await timed() for _ in range(repeats)]
    return statistics.median(samples) * 1000, max(samples) * 1000


async def main(repeats: int) -> dict[str, float]:
    root = Path(tempfile.gettempdir()) / "tandem-commands-bench"
    found = await probe(CommandLimits(), root)
    if found.sandbox is None:
        raise SystemExit(f"no sandbox: {found.status.detail}")
    sandbox = found.sandbox
    plain, plain_worst = await measure(plain_start, repeats)
    started, started_worst = await measure(sandboxed_start(sandbox), repeats)
    stopped, stopped_worst = await measure(stop(sandbox), repeats)
    return {
        "plain_start_ms": round(plain, 1),
        "plain_start_worst_ms": round(plain_worst, 1),
        "sandbox_start_ms": round(started, 1),
        "sandbox_start_worst_ms": round(started_worst, 1),
        "start_ratio": round(started / plain, 1),
        "stop_ms": round(stopped, 1),
        "stop_worst_ms": round(stopped_worst, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    figures = asyncio.run(main(parser.parse_args().repeats))
    print_figures(figures)
