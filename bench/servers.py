"""Server and client processes for the benchmarks: Tandem, the bare baseline, and the client."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
# Limits a benchmark run must never hit (they exist to stop runaway models, not long scripts).
LIFTED_LIMITS = {
    "TANDEM_LIMIT_MODEL_REQUESTS": "1000000",
    "TANDEM_LIMIT_TOOL_CALLS": "1000000",
    "TANDEM_LIMIT_TOTAL_TOKENS": "1000000000000",
    "TANDEM_LIMIT_WALL_SECONDS": "3600",
    "TANDEM_MAX_PROJECTS": "1000000",
    "TANDEM_MAX_PROJECT_BYTES": "100000000000",
    "TANDEM_MAX_CONNECTIONS": "1000000",
    # One user (the local admin) starts every run of a benchmark.
    "TANDEM_MAX_RUNS_PER_USER": "1000000",
    "TANDEM_RUNS_PER_MINUTE": "1000000",
    "TANDEM_DOWNLOADS_PER_MINUTE": "1000000",
}
# Passed through to every Tandem server: how the same scenarios run on PostgreSQL + Redis.
BACKEND_VARIABLES = ("TANDEM_DATABASE_URL", "TANDEM_EVENTS_URL", "TANDEM_RUN_LEASE_SECONDS", "TANDEM_HEARTBEAT_SECONDS")


def raise_file_limit() -> None:
    """Thousands of idle streams need as many descriptors, in the server and in the client (children inherit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def peak_rss(pid: int) -> Iterator[Callable[[], int]]:
    """Sample a process's RSS every 10 ms while the body runs; the callable gives the peak so far."""
    peak = [rss_bytes(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak[0]
    finally:
        stop.set()
        sampler.join()


def kernel_tcp_bytes() -> int:
    """Memory the kernel holds for all TCP sockets on the machine (send and receive queues)."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE")
    raise RuntimeError("no TCP line in /proc/net/sockstat")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _own_cpu_seconds(pid: int) -> float:
    # Per thread, in nanoseconds (`schedstat`): `stat`'s 10 ms ticks read 0 for the load source's
    # few ms in a quick run, and a figure of 0 fails the run.
    own = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # a thread or child that ended meanwhile
            own += int((task / "schedstat").read_text().split()[0])
    return own / 1e9


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process and its live children (`serve --workers N`) have used so far."""
    return _own_cpu_seconds(pid) + sum(cpu_seconds(child) for child in _children(pid))


SERVICES = ("postgres", "redis-server")


def services_cpu_seconds() -> float:
    """CPU time this machine's PostgreSQL and Redis processes (every one so named) have used so far:
    they share the cores with the servers and the load client."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError, ValueError):
            if comm.read_text().strip() in SERVICES:
                total += _own_cpu_seconds(int(comm.parent.name))
    return total


def children_cpu_seconds() -> float:
    """CPU time of this process's children that have ended (the load client of each step)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Process:
    """A server in a subprocess."""

    argv: list[str]
    env: dict[str, str]
    health_path: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def model_env(self) -> dict[str, str]:
        """Settings for a Tandem server whose model this OpenAI-compatible server is."""
        return {"TANDEM_MODEL": "openai:bench", "OPENAI_BASE_URL": f"{self.url}/v1", "OPENAI_API_KEY": "sk-bench"}

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def launch(self, log_dir: Path) -> Process:
        self.log = log_dir / f"server-{self.port}.log"
        with self.log.open("ab") as log:
            argv = [*self.argv, "--port", str(self.port)]
            self.process = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    def wait_ready(self) -> Process:
        assert self.process is not None
        assert self.log is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + self.health_path, timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _python_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TANDEM_", "OPENAI_", "ANTHROPIC_"))}
    env.update(extra)
    return env


def tandem_process(data_dir: Path, env: dict[str, str], *, workers: int = 1) -> Process:
    """A Tandem server with the scripted model (not AI), unless `env` sets `TANDEM_MODEL`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # BENCH_SERVER=path/to/script.py runs that instead of `-m tandem` (same CLI): a way to try a
    # proposed fix, e.g. a monkeypatch, against the same scenarios without editing src/.
    entry = ["-m", "tandem"] if not os.environ.get("BENCH_SERVER") else [os.environ["BENCH_SERVER"]]
    return Process(
        argv=[
            sys.executable,
            *entry,
            "serve",
            "--log-level",
            "warning",
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        env=_python_env({"TANDEM_DATA_DIR": str(data_dir), "TANDEM_MODEL": "scripted", **LIFTED_LIMITS, **env}),
        health_path="/api/v1/health",
    )


def provider_process() -> Process:
    """The OpenAI-compatible load source (`bench/provider.py`, not AI)."""
    return Process(argv=[sys.executable, "-m", "bench.provider"], env=_python_env({}), health_path="/health")


def baseline_process(events: int) -> Process:
    return Process(
        argv=[sys.executable, "-m", "bench.baseline", "--events", str(events)],
        env=_python_env({}),
        health_path="/health",
    )


@contextmanager
def running(*processes: Process) -> Iterator[None]:
    """Start the servers side by side (each takes seconds to import), stop them all at the end."""
    # Kept (gitignored) so a server-side failure can be read after the run.
    log_dir = ROOT / "bench" / "results" / "logs" / time.strftime("%Y%m%d-%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        for process in processes:
            process.launch(log_dir)
        for process in processes:
            process.wait_ready()
        yield
    finally:
        for process in processes:
            process.stop()


@contextmanager
def profiling(pid: int, output: Path | None) -> Iterator[None]:
    """Sample a server with py-spy (folded stacks, CPU only) while the body runs; nothing if no output."""
    if output is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [
        spy,
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--format",
        "raw",
        "--rate",
        "200",
        "--output",
        str(output),
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)  # py-spy needs a moment to attach
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
        _, errors = process.communicate(timeout=60)
        if not output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {errors.decode()[-2000:]}")


@contextmanager
def baseline_server(events: int) -> Iterator[Process]:
    with tempfile.TemporaryDirectory(prefix="tandem-bench-baseline-") as log_dir:
        server = Process(
            argv=[sys.executable, "-m", "bench.baseline", "--events", str(events)],
            env=_python_env({}),
            health_path="/health",
        )
        try:
            yield server.start(Path(log_dir))
        finally:
            server.stop()


@contextmanager
def _spec_file(spec: dict[str, Any]) -> Iterator[str]:
    """The client's spec in a file: 5,000 targets do not fit on a command line."""
    with tempfile.NamedTemporaryFile(prefix="bench-spec-", suffix=".json") as file:
        file.write(orjson.dumps(spec))
        file.flush()
        yield "@" + file.name


def run_client(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the client process for one measurement and return what it printed."""
    with _spec_file(spec) as argument:
        done = _run_client(argument)
    if done.returncode != 0:
        raise RuntimeError(f"client failed: {done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def run_team(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `bench.team` (the model layer alone, scripted model: not AI) in its own process."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.team", orjson.dumps(spec).decode()],
        capture_output=True,
        cwd=ROOT,
        env=_python_env({"TANDEM_MODEL": "scripted", **LIFTED_LIMITS}),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.team failed: {done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def _run_client(argument: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bench.client", argument],
        capture_output=True,
        cwd=ROOT,
        env=_python_env({}),
        check=False,
    )


@contextmanager
def idle_client(spec: dict[str, Any], mode: str = "idle") -> Iterator[dict[str, Any]]:
    """A client holding streams open: the body runs once all of them have their first event (mode
    `idle`) or once every request is sent (mode `stalled`). The dict gets the client's result after."""
    with _spec_file({**spec, "mode": mode}) as argument:
        yield from _idle_client(argument)


def _idle_client(argument: str) -> Iterator[dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.client", argument],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=_python_env({}),
    )
    assert process.stdout is not None
    assert process.stdin is not None
    line = process.stdout.readline()
    if line.strip() != b"ready":
        process.kill()
        raise RuntimeError(f"idle client failed: {process.communicate()[1].decode()[-3000:]}")
    result: dict[str, Any] = {}
    try:
        yield result
    finally:
        process.stdin.write(b"close\n")
        process.stdin.flush()
        out, _ = process.communicate(timeout=60)
        result.update(orjson.loads(out.splitlines()[-1]))


class Api:
    """Setup calls to Tandem's API (not timed)."""

    def __init__(self, url: str) -> None:
        self._client = httpx.Client(base_url=url + "/api/v1", timeout=60)

    def projects(self, count: int) -> list[int]:
        return [
            self._client.post("/projects", json={"name": f"bench {i}"}).raise_for_status().json()["id"]
            for i in range(count)
        ]

    def put_file(self, project_id: int, path: str, content: str) -> None:
        self._client.put(f"/projects/{project_id}/files/{path}", json={"content": content}).raise_for_status()

    def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._client.get(f"/runs/{run_id}").raise_for_status().json()
        return result

    def cancel(self, run_id: str) -> None:
        self._client.post(f"/runs/{run_id}/cancel").raise_for_status()

    def close(self) -> None:
        self._client.close()
