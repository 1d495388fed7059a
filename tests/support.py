"""Test helpers: a real Tandem server in a subprocess, and an SSE client that parses properly."""

from __future__ import annotations

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
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class SeededRun:
    """A `running` run put in the database by a test (`tests/runs/conftest.py`)."""

    id: str
    message_id: int  # the assistant message the run answers with


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


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "OPENAI_", "ANTHROPIC_"))}
        env.update({"TANDEM_DATA_DIR": str(self.data_dir), **self.env})
        self.log_path = self.data_dir / f"server-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tandem", "serve", "--port", str(self.port), "--log-level", "warning"],
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
        self.kill()  # no fixture knows it yet: it would outlive the tests
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
