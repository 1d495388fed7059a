"""Test helpers: a real Tandem server in a subprocess, and an SSE client that parses properly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
from redis import Redis
from redis.exceptions import RedisError

from tandem.services.projects import ProjectLimits


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A Redis for this test alone, so restarting it disturbs no other test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def children(parent: int, command: bytes = b"") -> list[int]:
    """The live children of process `parent` whose command line contains `command`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Field 4 (after the parenthesised command name) is the parent pid.
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if ppid == parent and command in cmdline:
            found.append(int(stat.parent.name))
    return found


def search_processes(parent: int) -> list[int]:
    """The live `tandem.workspace.grep` children of process `parent`."""
    return children(parent, b"workspace/grep.py")


async def searching(parent: int, *, expected: bool, within: float = 30) -> bool:
    """Whether `parent` has (`expected=True`) or no longer has search processes, waiting up to a
    generous `within` seconds for it to become so."""
    deadline = time.monotonic() + within
    while bool(search_processes(parent)) != expected:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@dataclass(frozen=True)
class SeededRun:
    """A `running` run put in the database by a test (the `new_run` fixture in `tests/conftest.py`)."""

    id: str
    message_id: int  # the assistant message the run answers with
    project_id: int


@dataclass
class Event:
    id: int
    type: str
    data: dict[str, Any]
    raw: dict[str, Any]


class EventParser:
    """SSE lines in, events out: `feed` returns the event a blank line completes, else None."""

    def __init__(self) -> None:
        self._id: int | None = None
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if line == "":
            event = None
            if self._data:
                payload = json.loads("\n".join(self._data))
                assert self._id is not None, "every event carries an id"
                event = Event(id=self._id, type=payload["type"], data=payload["data"], raw=payload)
            self._id, self._data = None, []
            return event
        if line.startswith("id:"):
            self._id = int(line[3:].strip())
        elif line.startswith("data:"):
            self._data.append(line[5:].removeprefix(" "))
        return None


async def read_events(response: httpx.Response) -> AsyncIterator[Event]:
    parser = EventParser()
    async for line in response.aiter_lines():
        if (event := parser.feed(line)) is not None:
            yield event


async def run_chat(client: httpx.AsyncClient, message: str = "write hello") -> tuple[int, list[Event]]:
    """Create a blank project, send `message` to its chat and read the run's events to the end."""
    project = (await client.post("/projects", json={"name": "p", "template": "blank"})).json()
    async with client.stream("POST", f"/chat/{project['id']}/stream", json={"message": message}) as response:
        assert response.status_code == 200
        return project["id"], [event async for event in read_events(response)]


UNLIMITED_PER_USER = {
    "TANDEM_MAX_RUNS_PER_USER": "100000",
    "TANDEM_RUNS_PER_MINUTE": "100000",
    "TANDEM_DOWNLOADS_PER_MINUTE": "100000",
    "TANDEM_MAX_PROJECTS_PER_USER": "100000",
    "TANDEM_MAX_IMPORTS_PER_USER": "100000",
    "TANDEM_IMPORTS_PER_MINUTE": "100000",
}
"""Test servers start many runs and downloads as one user; the tests of these limits set their own."""

UNLIMITED_PROJECTS = ProjectLimits(max_projects=1_000_000, max_projects_per_user=1_000_000)


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    preview_port: int = field(default_factory=free_port)
    """The preview origin's port (`api/preview.py`): not the default port + 1, which may be taken."""
    host: str = "127.0.0.1"
    """The address it listens on; it is always reached through 127.0.0.1."""
    args: tuple[str, ...] = ()
    """More `tandem serve` options."""
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    logs: ClassVar[set[Path]] = set()
    """The log of every server this test process started: a failing test's report shows what they wrote."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def preview_url(self) -> str:
        return f"http://127.0.0.1:{self.preview_port}"

    def process_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "OPENAI_", "ANTHROPIC_"))}
        env.update(
            {
                "TANDEM_DATA_DIR": str(self.data_dir),
                "TANDEM_PREVIEW_PORT": str(self.preview_port),
                **UNLIMITED_PER_USER,
                **self.env,
            }
        )
        return env

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """`tandem <args>` on this server's configuration (its database), as an operator runs it."""
        return subprocess.run(
            [sys.executable, "-m", "tandem", *args],
            env=self.process_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self) -> Server:
        env = self.process_env()
        self.log_path = self.data_dir / f"server-{self.port}.log"
        Server.logs.add(self.log_path)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        argv = ["serve", "--host", self.host, "--port", str(self.port), "--log-level", "warning", *self.args]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tandem", *argv],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # Generous for a loaded CI machine (start-up seen at ~28 s under load 10): a server that
        # dies is noticed at once, one that hangs fails after two minutes.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()  # not left running (and holding its database) after a failed test
        raise RuntimeError(f"server did not answer /health within 120 s: {self.log_path.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def running(*argv: str) -> list[int]:
    """The processes of this machine whose command line is exactly `argv` (found in /proc)."""
    wanted = "".join(f"{arg}\0" for arg in argv).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == wanted:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
