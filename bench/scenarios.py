"""The five scenarios of issue 5, and issue 10's two memory scenarios. Each measures Tandem against a
figure of the same run (the bare baseline, or Tandem at rest) and returns its figures; nothing here
is timed itself (the client process does the timing).

All scenarios share one Tandem server (plus one with a short event retention for replays from the
database) and one baseline server: a Tandem server takes seconds to start. Each run gets its shape
(pace, Coder loops, deltas per step) from a `[scripted ...]` directive in its chat message."""

from __future__ import annotations

import base64
import math
import os
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from bench.servers import (
    Api,
    Process,
    cpu_seconds,
    idle_client,
    kernel_tcp_bytes,
    peak_rss,
    profiling,
    rss_bytes,
    run_client,
    run_team,
)

Figures = dict[str, Any]
SHORT_RETENTION = 0.2
REPLAY_PACE = 0.003


@dataclass(frozen=True, kw_only=True)
class Sizes:
    throughput_events: int
    throughput_repeats: int
    baseline_repeats: int
    latency_runs: int
    latency_rate: float
    latency_seconds: float
    idle_runs: int
    idle_viewers: int
    first_posts: int
    replay_events: int
    replay_repeats: int
    stalled_readers: int
    download_mb: int
    provider_tokens: int
    capacity_rate: float
    capacity_seconds: float
    capacity_start: int
    capacity_max: int
    capacity_p99_ms: float


FULL = Sizes(
    throughput_events=100_000,
    throughput_repeats=3,
    baseline_repeats=5,
    latency_runs=200,
    latency_rate=50,
    latency_seconds=20,
    idle_runs=100,
    idle_viewers=50,
    first_posts=200,
    replay_events=10_000,
    replay_repeats=5,
    stalled_readers=1_000,
    download_mb=300,
    provider_tokens=20_000,
    capacity_rate=50,
    capacity_seconds=10,
    capacity_start=25,
    capacity_max=1_600,
    capacity_p99_ms=50,
)
QUICK = Sizes(
    throughput_events=3_000,
    throughput_repeats=1,
    baseline_repeats=3,
    latency_runs=10,
    latency_rate=50,
    latency_seconds=2,
    idle_runs=5,
    idle_viewers=20,
    first_posts=20,
    replay_events=1_000,
    replay_repeats=3,
    stalled_readers=50,
    download_mb=20,
    provider_tokens=2_000,
    capacity_rate=50,
    capacity_seconds=2,
    capacity_start=2,
    capacity_max=8,
    # A smoke run on a busy CI machine: the search is exercised, its figure means nothing.
    capacity_p99_ms=5_000,
)


@dataclass(frozen=True, kw_only=True)
class Context:
    sizes: Sizes
    tandem: Process
    tandem_short_retention: Process
    """Drops a finished run's event log at once, so re-attaching reads the database."""
    baseline: Process
    provider: Process
    """The OpenAI-compatible load source (`bench/provider.py`)."""
    tandem_provider: Process
    """Tandem with an `openai:` model served by `provider`."""
    profile_dir: Path | None = None


def baseline_events(sizes: Sizes) -> int:
    """How many frames the baseline pre-encodes: enough for any scenario's run (runs add ~1% events)."""
    return int(max(sizes.throughput_events, sizes.replay_events) * 1.1) + 2000


def script(events: int, pace: float = 0.0) -> str:
    """A chat message making the scripted model emit about `events` events, `pace` seconds apart.

    The scripted run makes `repeat + 6` model requests; spreading the deltas over ~1,000 per request
    keeps each step's accumulated thinking text small (pydantic-ai appends every delta to it)."""
    repeat = max(1, events // 1000)
    deltas = max(1, math.ceil(events / (repeat + 6)) - 8)  # ~8 more chunks per step: words, tool call
    return f"Benchmark [scripted pace={pace} repeat={repeat} deltas={deltas}]: append a line to the notes."


def _chat(project_id: int, message: str) -> dict[str, Any]:
    return {"method": "POST", "path": f"/api/v1/chat/{project_id}/stream", "body": {"message": message}}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _median_eps(measure: Callable[[], Figures], repeats: int, count: str = "events") -> tuple[float, Figures]:
    """Median events/s over repeats (`count`: wire `events`, or chunks `emitted`), and the last details."""
    results = [measure() for _ in range(repeats)]
    return statistics.median(r[count] / r["seconds"] for r in results), results[-1]


def _require_complete(result: Figures) -> None:
    if result["last_type"] != "complete":
        raise RuntimeError(f"the run ended with {result['last_type']!r}, not 'complete'")


# -- throughput -------------------------------------------------------------------------------------


def throughput(ctx: Context) -> Figures:
    """One run emitting `throughput_events` tiny events through the whole pipeline, one client."""
    sizes, server, base = ctx.sizes, ctx.tandem, ctx.baseline
    profile = ctx.profile_dir / "throughput.folded" if ctx.profile_dir else None
    message = script(sizes.throughput_events)
    api = Api(server.url)
    projects = iter(api.projects(sizes.throughput_repeats + 1))
    api.close()
    # A warm-up run: the first run of a process pays for lazy imports and caches.
    _require_complete(run_client({"mode": "stream", "port": server.port, "target": _chat(next(projects), message)}))

    def run() -> Figures:
        result = run_client({"mode": "stream", "port": server.port, "target": _chat(next(projects), message)})
        _require_complete(result)
        return result

    cpu_before = cpu_seconds(server.pid)
    with profiling(server.pid, profile):
        # Counted as emitted: Tandem may send the same chunks as fewer, joined deltas.
        tandem_eps, last = _median_eps(run, sizes.throughput_repeats, count="emitted")
    cpu_per_event = (cpu_seconds(server.pid) - cpu_before) / (last["emitted"] * sizes.throughput_repeats)
    events = last["emitted"]
    baseline_eps, _ = _median_eps(
        lambda: run_client({"mode": "stream", "port": base.port, "target": _get(f"/stream?n={events}")}),
        sizes.baseline_repeats,
    )
    padded_eps, _ = _median_eps(
        lambda: run_client({"mode": "stream", "port": base.port, "target": _get(f"/stream?n={events}&kind=padded")}),
        sizes.baseline_repeats,
    )
    return {
        "events": events,
        "tandem_wire_events": last["events"],
        "tandem_events_per_s": tandem_eps,
        "baseline_events_per_s": baseline_eps,
        "baseline_330B_events_per_s": padded_eps,
        # Server CPU per event: what each event costs, whatever the scheduling.
        "tandem_cpu_us_per_event": cpu_per_event * 1e6,
        "ratio": tandem_eps / baseline_eps,
    }


def _get(path: str) -> dict[str, Any]:
    return {"method": "GET", "path": path}


# -- latency under load -----------------------------------------------------------------------------


def latency(ctx: Context) -> Figures:
    """`latency_runs` concurrent runs, each emitting `latency_rate` events/s for `latency_seconds`."""
    sizes, server, base = ctx.sizes, ctx.tandem, ctx.baseline
    per_run = int(sizes.latency_rate * sizes.latency_seconds)
    interval = 1 / sizes.latency_rate
    stagger = min(1.0, sizes.latency_seconds / 10)  # spread the starts over a second, as users would
    # Fewer, longer steps than `script` makes: at 50 chunks/s each step must last a while.
    repeat = max(1, per_run // 100)
    deltas = max(1, per_run // (repeat + 6) - 8)
    message = f"Benchmark [scripted pace={interval} repeat={repeat} deltas={deltas}]: append a line."
    api = Api(server.url)
    targets = [_chat(p, message) for p in api.projects(sizes.latency_runs)]
    api.close()
    cpu_before = cpu_seconds(server.pid)
    with profiling(server.pid, ctx.profile_dir / "latency.folded" if ctx.profile_dir else None):
        tandem = run_client({"mode": "latency", "port": server.port, "targets": targets, "stagger": stagger})
    tandem_cpu = (cpu_seconds(server.pid) - cpu_before) / tandem["seconds"]
    if tandem["last_types"] != ["complete"]:
        raise RuntimeError(f"runs ended with {tandem['last_types']}")
    path = f"/paced?n={per_run}&interval={interval}"
    targets = [_get(path)] * sizes.latency_runs
    baseline = run_client({"mode": "latency", "port": base.port, "targets": targets, "stagger": stagger})
    figures = {}
    for name, result in (("tandem", tandem), ("baseline", baseline)):
        figures[f"{name}_p50_ms"] = result["latency_ms"]["p50"]
        figures[f"{name}_p99_ms"] = result["latency_ms"]["p99"]
        figures[f"{name}_max_ms"] = result["latency_ms"]["p100"]
        figures[f"{name}_events_per_s"] = result["events"] / result["seconds"]
        figures[f"{name}_samples"] = result["samples"]
        # Stamped chunks delivered per second (Tandem may join several into one event).
        figures[f"{name}_chunks_per_s"] = result["samples"] / result["seconds"]
    # How long the scenario really took: an overloaded server stretches the runs past their 20 s.
    figures["tandem_seconds"] = tandem["seconds"]
    figures["p99_ratio"] = figures["tandem_p99_ms"] / figures["baseline_p99_ms"]
    # Server CPU use during the scenario (1.0 = one core): tells load-bound from waiting-bound latency.
    figures["tandem_server_cpu"] = tandem_cpu
    figures["tandem_cpu_us_per_chunk"] = 1e6 * tandem_cpu * tandem["seconds"] / tandem["samples"]
    # The same runs through the agents alone (no persistence, event log or HTTP): what the model
    # layer costs per chunk, and so the most chunks/s one core could stream whatever the rest costs.
    team = run_team({"runs": sizes.latency_runs, "message": message, "stagger": stagger})
    figures["team_only_chunks_per_s"] = team["chunks"] / team["seconds"]
    figures["team_only_cpu"] = team["cpu_seconds"] / team["seconds"]
    figures["team_only_cpu_us_per_chunk"] = 1e6 * team["cpu_seconds"] / team["chunks"]
    return figures


# -- idle streams -----------------------------------------------------------------------------------


def idle(ctx: Context) -> Figures:
    """`idle_runs` runs waiting on a very slow model, `idle_viewers` re-attached streams each."""
    sizes, server, base = ctx.sizes, ctx.tandem, ctx.baseline
    streams = sizes.idle_runs * sizes.idle_viewers
    api = Api(server.url)
    run_ids = [_start_run(server.url, p) for p in api.projects(sizes.idle_runs)]
    targets = [_get(f"/api/v1/runs/{r}/stream") for r in run_ids for _ in range(sizes.idle_viewers)]
    try:
        tandem_per_stream = _memory_per_stream(server.pid, server.port, targets)
    finally:
        for run_id in run_ids:
            api.cancel(run_id)
        api.close()
    baseline_per_stream = _memory_per_stream(base.pid, base.port, [_get("/idle")] * streams)
    return {
        "streams": streams,
        "tandem_bytes_per_stream": tandem_per_stream,
        "baseline_bytes_per_stream": baseline_per_stream,
        "ratio": tandem_per_stream / baseline_per_stream,
    }


def _start_run(url: str, project_id: int, message: str = "Benchmark [scripted pace=3600]: wait.") -> str:
    """Start a run and leave it: its stream is dropped, the run goes on (on_disconnect=continue).
    By default its model's first chunk comes in an hour."""
    with httpx.stream(
        "POST", f"{url}/api/v1/chat/{project_id}/stream", json={"message": message}, timeout=30
    ) as response:
        response.raise_for_status()
        return response.headers["x-run-id"]


def _memory_per_stream(pid: int, port: int, targets: list[dict[str, Any]]) -> float:
    time.sleep(1)  # let start-up allocations settle
    before = rss_bytes(pid)
    with idle_client({"port": port, "targets": targets}):
        time.sleep(1)
        after = rss_bytes(pid)
    return (after - before) / len(targets)


# -- time to first event ----------------------------------------------------------------------------


def first_event(ctx: Context) -> Figures:
    """`first_posts` sequential chats (one per project: one active run per project): POST → `start`."""
    sizes, server, base = ctx.sizes, ctx.tandem, ctx.baseline
    message = "Benchmark: append a line to the notes."  # the default script, at full speed
    api = Api(server.url)
    targets = [_chat(p, message) for p in api.projects(sizes.first_posts)]
    api.close()
    tandem = run_client({"mode": "first", "port": server.port, "targets": targets})["first_ms"]
    target = {"method": "POST", "path": "/first", "body": {"message": message}}
    baseline = run_client({"mode": "first", "port": base.port, "targets": [target] * sizes.first_posts})["first_ms"]
    return {
        "posts": len(tandem),
        "tandem_p50_ms": _percentile(tandem, 0.5),
        "tandem_p99_ms": _percentile(tandem, 0.99),
        "baseline_p50_ms": _percentile(baseline, 0.5),
        "baseline_p99_ms": _percentile(baseline, 0.99),
        "p50_ratio": _percentile(tandem, 0.5) / _percentile(baseline, 0.5),
    }


# -- replay -----------------------------------------------------------------------------------------


def replay(ctx: Context) -> Figures:
    """Re-attach to a finished run of `replay_events` events: from the event log (memory or Redis)
    while it is retained, and from the database once it is not."""
    sizes, base = ctx.sizes, ctx.baseline
    figures: Figures = {}
    for source, server in (("log", ctx.tandem), ("database", ctx.tandem_short_retention)):
        api = Api(server.url)
        # Paced like a live model, so the run keeps its events one by one (a full-speed run joins deltas).
        target = _chat(api.projects(1)[0], script(sizes.replay_events, pace=REPLAY_PACE))
        api.close()
        finished = run_client({"mode": "stream", "port": server.port, "target": target})
        _require_complete(finished)
        time.sleep(SHORT_RETENTION + 0.3 if source == "database" else 0)
        target = _get(f"/api/v1/runs/{finished['run_id']}/stream")

        def attach(port: int = server.port, target: dict[str, Any] = target) -> Figures:
            result = run_client({"mode": "stream", "port": port, "target": target})
            _require_complete(result)
            return result

        figures[f"{source}_events_per_s"], _ = _median_eps(attach, sizes.replay_repeats)
        figures["events"] = finished["events"]
    path = f"/stream?n={figures['events']}"
    figures["baseline_events_per_s"], _ = _median_eps(
        lambda: run_client({"mode": "stream", "port": base.port, "target": _get(path)}), sizes.baseline_repeats
    )
    for source in ("log", "database"):
        figures[f"{source}_ratio"] = figures[f"{source}_events_per_s"] / figures["baseline_events_per_s"]
    return figures


# -- stalled readers (issue 10) ---------------------------------------------------------------------

_MB = 2**20
STALLED_SECONDS = 5.0
"""How long the stalled readers stay once every one has its answer started: under
TANDEM_STREAM_STALL_SECONDS (30 s), so they are measured stalled, not after the server dropped them."""


def _text(size: int) -> str:
    """`size` characters of incompressible-ish text (base64 of random bytes): deflates to ~75 %."""
    return base64.b64encode(os.urandom(size * 3 // 4)).decode()[:size]


def stalled(ctx: Context) -> Figures:
    """`stalled_readers` clients that send their request and never read, attached to a run whose log
    already holds MBs (two ~1 MB tool results) and which goes on streaming; against the RSS of as
    many idle viewers of a waiting run, on the same server. Then the RSS once they have left."""
    sizes, server = ctx.sizes, ctx.tandem
    readers = sizes.stalled_readers
    api = Api(server.url)
    waiting, busy = api.projects(2)
    idle_run = _start_run(server.url, waiting)
    time.sleep(1)
    with idle_client({"port": server.port, "targets": [_get(f"/api/v1/runs/{idle_run}/stream")] * readers}):
        time.sleep(1)
        idle_rss = rss_bytes(server.pid)
    api.cancel(idle_run)
    for path in ("AAA.md", "TANDEM_NOTES.md"):  # the Planner reads the first file, the Coder the notes
        api.put_file(busy, path, _text(900_000))
    run_id = _start_run(server.url, busy, "Benchmark [scripted pace=0.01 repeat=300]: go on for a while.")
    while api.run(run_id)["last_seq"] < 20:  # past both big tool results
        time.sleep(0.05)
    time.sleep(1)
    before = rss_bytes(server.pid)
    targets = [_get(f"/api/v1/runs/{run_id}/stream")] * readers
    # The peak from the first request to 2 s after they left: a stream let go may allocate too.
    with peak_rss(server.pid) as peak:
        with idle_client({"port": server.port, "targets": targets}, mode="stalled"):
            time.sleep(STALLED_SECONDS)
            kernel = kernel_tcp_bytes()
        time.sleep(2)
    stalled_rss = peak()
    after = rss_bytes(server.pid)
    api.cancel(run_id)
    api.close()
    return {
        "streams": readers,
        "idle_rss_mb": idle_rss / _MB,
        "stalled_rss_mb": stalled_rss / _MB,
        "ratio": stalled_rss / idle_rss,
        "before_rss_mb": before / _MB,
        "after_rss_mb": after / _MB,
        # Released once they left: the RSS after, against the RSS before they came.
        "after_ratio": after / before,
        # Machine-wide, for scale: what the kernel holds for TCP queues while they are stalled.
        "kernel_tcp_mb": kernel / _MB,
    }


# -- project download (issue 10) --------------------------------------------------------------------


def download(ctx: Context) -> Figures:
    """Peak server RSS while one client downloads a `download_mb` MB project (1 MB files) as a zip,
    against the RSS just before."""
    sizes, server = ctx.sizes, ctx.tandem
    api = Api(server.url)
    project = api.projects(1)[0]
    for i in range(sizes.download_mb):
        api.put_file(project, f"data/{i // 100:02d}/file-{i:04d}.txt", _text(999_000))
    api.close()
    time.sleep(1)
    before = rss_bytes(server.pid)
    with tempfile.TemporaryDirectory(prefix="tandem-bench-zip-") as directory:
        archive = f"{directory}/project.zip"
        spec = {"mode": "download", "port": server.port, "path": f"/api/v1/projects/{project}/download"}
        with peak_rss(server.pid) as peak:
            result = run_client({**spec, "file": archive})
        with zipfile.ZipFile(archive) as zipped:
            entries = len(zipped.namelist())
    if entries < sizes.download_mb:
        raise RuntimeError(f"the zip holds {entries} files, not {sizes.download_mb}")
    return {
        "files": entries,
        "zip_mb": result["bytes"] / _MB,
        "mb_per_s": result["bytes"] / _MB / result["seconds"],
        "before_rss_mb": before / _MB,
        "peak_rss_mb": peak() / _MB,
        "growth_mb": (peak() - before) / _MB,
        "ratio": peak() / before,
    }


# Idle first: measured on a fresh heap. After the latency scenario's 200 runs the server's allocator
# has free pages to reuse, and the memory per stream read 17 KB instead of 28 KB for the same code.
SCENARIOS: dict[str, Callable[[Context], Figures]] = {
    "idle": idle,
    "throughput": throughput,
    "latency": latency,
    "first_event": first_event,
    "replay": replay,
    "stalled": stalled,
    "download": download,
}
