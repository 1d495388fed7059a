"""The results table: every figure next to its baseline, the ratio, and issue 5's target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    scenario: str
    figure: str
    tandem: str
    baseline: str | None  # None: the baseline has no such figure
    unit: str
    ratio: str | None
    target: str
    met: Callable[[dict[str, Any]], bool]


ROWS = [
    Row(
        "throughput",
        "one run, events/s",
        "tandem_events_per_s",
        "baseline_events_per_s",
        "ev/s",
        "ratio",
        "≥ 1.0× baseline",
        lambda f: f["ratio"] >= 1.0,
    ),
    Row(
        "throughput",
        "SSE events sent (joined deltas)",
        "tandem_wire_events",
        "events",
        "",
        None,
        "",
        lambda f: True,
    ),
    Row("latency", "emit→parse p50", "tandem_p50_ms", "baseline_p50_ms", "ms", None, "", lambda f: True),
    Row(
        "latency",
        "emit→parse p99",
        "tandem_p99_ms",
        "baseline_p99_ms",
        "ms",
        "p99_ratio",
        "p99 ≤ 10 ms",
        lambda f: f["tandem_p99_ms"] <= 10,
    ),
    Row(
        "latency",
        "events/s, all runs",
        "tandem_events_per_s",
        "baseline_events_per_s",
        "ev/s",
        None,
        "",
        lambda f: True,
    ),
    Row(
        "latency",
        "chunks/s delivered, all runs",
        "tandem_chunks_per_s",
        "baseline_chunks_per_s",
        "/s",
        None,
        "",
        lambda f: True,
    ),
    Row("latency", "server CPU per chunk", "tandem_cpu_us_per_chunk", None, "µs", None, "", lambda f: True),
    Row(
        "latency",
        "agents alone (no persistence, HTTP): chunks/s",
        "team_only_chunks_per_s",
        "baseline_chunks_per_s",
        "/s",
        None,
        "",
        lambda f: True,
    ),
    Row("latency", "agents alone: CPU per chunk", "team_only_cpu_us_per_chunk", None, "µs", None, "", lambda f: True),
    Row(
        "idle",
        "memory per stream",
        "tandem_bytes_per_stream",
        "baseline_bytes_per_stream",
        "B",
        "ratio",
        "≤ 2× baseline",
        lambda f: f["ratio"] <= 2.0,
    ),
    Row(
        "first_event",
        "POST→start p50",
        "tandem_p50_ms",
        "baseline_p50_ms",
        "ms",
        "p50_ratio",
        "p50 ≤ 15 ms",
        lambda f: f["tandem_p50_ms"] <= 15,
    ),
    Row("first_event", "POST→start p99", "tandem_p99_ms", "baseline_p99_ms", "ms", None, "", lambda f: True),
    Row(
        "replay",
        "from event log, events/s",
        "log_events_per_s",
        "baseline_events_per_s",
        "ev/s",
        "log_ratio",
        "≥ 0.5× baseline",
        lambda f: f["log_ratio"] >= 0.5,
    ),
    Row(
        "replay",
        "from database, events/s",
        "database_events_per_s",
        "baseline_events_per_s",
        "ev/s",
        "database_ratio",
        "≥ 0.5× baseline",
        lambda f: f["database_ratio"] >= 0.5,
    ),
    Row(
        "stalled",
        "RSS, stalled readers (vs as many idle viewers)",
        "stalled_rss_mb",
        "idle_rss_mb",
        "MB",
        "ratio",
        "≤ 2× idle viewers",
        lambda f: f["ratio"] <= 2.0,
    ),
    Row(
        "stalled",
        "RSS after they left (vs before they came)",
        "after_rss_mb",
        "before_rss_mb",
        "MB",
        "after_ratio",
        "",
        lambda f: True,
    ),
    Row(
        "download",
        "peak RSS during the zip download (vs before)",
        "peak_rss_mb",
        "before_rss_mb",
        "MB",
        "ratio",
        "+≤ 32 MB",
        lambda f: f["growth_mb"] <= 32,
    ),
    Row("download", "zip streamed", "mb_per_s", None, "MB/s", None, "", lambda f: True),
    # Issue 17, the provider path: the baseline column is the scripted path in the same invocation.
    Row(
        "provider",
        "one run, chunks/s (vs scripted path)",
        "chunks_per_s",
        "scripted_chunks_per_s",
        "/s",
        None,
        "",
        lambda f: True,
    ),
    Row(
        "provider",
        "server CPU per chunk (vs scripted path)",
        "server_cpu_us_per_chunk",
        "scripted_cpu_us_per_chunk",
        "µs",
        None,
        "≤ 30 µs",
        lambda f: f["server_cpu_us_per_chunk"] <= 30,
    ),
    Row("provider", "load source CPU per chunk", "provider_cpu_us_per_chunk", None, "µs", None, "", lambda f: True),
    Row(
        "capacity",
        "live runs at 50 tokens/s with p99 ≤ 50 ms",
        "runs_per_worker",
        None,
        "runs",
        None,
        "≥ 200 per worker",
        lambda f: f["runs_per_worker"] >= 200,
    ),
    Row("capacity", "emit→parse p99 at that load", "p99_ms", None, "ms", None, "", lambda f: True),
    Row("capacity", "server CPU at that load (1.0 = a core)", "server_cpu", None, "", None, "", lambda f: True),
    Row("capacity", "PostgreSQL + Redis CPU at that load", "services_cpu", None, "", None, "", lambda f: True),
    Row("capacity", "load client CPU at that load (at most)", "client_cpu", None, "", None, "", lambda f: True),
    Row(
        "capacity",
        "emit→parse p99 at 2× that load",
        "overload_p99_ms",
        None,
        "ms",
        None,
        "≤ 1,000 ms",
        lambda f: f["overload_p99_ms"] <= 1000,
    ),
    Row(
        "capacity",
        "chunks/s delivered at 2× (vs asked)",
        "overload_chunks_per_s",
        "overload_asked_chunks_per_s",
        "/s",
        None,
        "",
        lambda f: True,
    ),
]


def _number(value: float) -> str:
    if isinstance(value, int) or value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def table(report: dict[str, Any]) -> str:
    results = report["results"]
    lines = [
        f"Tandem benchmarks ({report['mode']}, {report['backend']}; {report['machine']['cpus']} CPUs, "
        f"{report['machine']['cpu']}; {report['seconds']} s)",
        "",
        "| scenario | figure | Tandem | baseline | ratio | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in ROWS:
        figures = results.get(row.scenario)
        if figures is None:
            continue
        ratio = f"{figures[row.ratio]:.2f}×" if row.ratio else ""
        met = ("yes" if row.met(figures) else "**no**") if row.target else ""
        baseline = f"{_number(figures[row.baseline])} {row.unit}" if row.baseline else "—"
        lines.append(
            f"| {row.scenario} | {row.figure} | {_number(figures[row.tandem])} {row.unit} | "
            f"{baseline} | {ratio} | {row.target} | {met} |"
        )
    sizes = {name: f.get("events") or f.get("streams") or f.get("posts") for name, f in results.items()}
    lines.append("")
    lines.append("sizes: " + ", ".join(f"{k}={v}" for k, v in sizes.items() if v))
    return "\n".join(lines)


def print_figures(figures: dict[str, float]) -> None:
    """One figure a line, names aligned: the output of the single-purpose benchmarks (bench/*.py)."""
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
