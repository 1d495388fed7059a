"""The benchmark harness in quick mode: every figure is produced. Timings are never asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(480)  # the first test waits for the whole quick run (~2 min)
ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "throughput": {
        "events",
        "tandem_wire_events",
        "tandem_events_per_s",
        "baseline_events_per_s",
        "baseline_330B_events_per_s",
        "tandem_cpu_us_per_event",
        "ratio",
    },
    "latency": {
        "tandem_p50_ms",
        "tandem_p99_ms",
        "tandem_events_per_s",
        "tandem_samples",
        "tandem_chunks_per_s",
        "baseline_chunks_per_s",
        "baseline_p50_ms",
        "baseline_p99_ms",
        "baseline_events_per_s",
        "baseline_samples",
        "p99_ratio",
        "tandem_server_cpu",
        "tandem_max_ms",
        "baseline_max_ms",
        "tandem_seconds",
        "tandem_cpu_us_per_chunk",
        "team_only_chunks_per_s",
        "team_only_cpu",
        "team_only_cpu_us_per_chunk",
    },
    "idle": {"streams", "tandem_bytes_per_stream", "baseline_bytes_per_stream", "ratio"},
    "first_event": {"posts", "tandem_p50_ms", "tandem_p99_ms", "baseline_p50_ms", "baseline_p99_ms", "p50_ratio"},
    "replay": {
        "events",
        "log_events_per_s",
        "database_events_per_s",
        "baseline_events_per_s",
        "log_ratio",
        "database_ratio",
    },
    "stalled": {
        "streams",
        "idle_rss_mb",
        "stalled_rss_mb",
        "ratio",
        "before_rss_mb",
        "after_rss_mb",
        "after_ratio",
        "kernel_tcp_mb",
    },
    "download": {"files", "zip_mb", "mb_per_s", "before_rss_mb", "peak_rss_mb", "growth_mb", "ratio"},
    "provider": {
        "chunks",
        "wire_events",
        "chunks_per_s",
        "server_cpu_us_per_chunk",
        "provider_cpu_us_per_chunk",
        "scripted_chunks_per_s",
        "scripted_cpu_us_per_chunk",
    },
    "capacity": {
        "runs_per_worker",
        "searched_up_to",
        "p99_ms",
        "server_cpu",
        "provider_cpu",
        "client_cpu",
        "services_cpu",
        "server_cpu_us_per_chunk",
        "overload_runs",
        "overload_p50_ms",
        "overload_p99_ms",
        "overload_chunks_per_s",
        "overload_asked_chunks_per_s",
    },
}
STEP = {
    "runs",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "chunks_per_s",
    "asked_chunks_per_s",
    "events_per_s",
    "seconds",
    "server_cpu",
    "provider_cpu",
    "client_cpu",
    "services_cpu",
    "server_cpu_us_per_chunk",
    "complete",
    "ok",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--backend", "sqlite", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=450,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(out.read_text())
    return result


# PostgreSQL's and Redis's CPU: a SQLite run may leave them idle.
MAY_BE_ZERO = {"services_cpu"}


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _measured(key: str, value: object) -> bool:
    if key in MAY_BE_ZERO:
        return isinstance(value, int | float) and math.isfinite(value) and value >= 0
    return _positive(value)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_every_figure_is_a_positive_finite_number(report: dict[str, object], scenario: str) -> None:
    figures = dict(report["results"][scenario])  # type: ignore[index]
    steps = figures.pop("steps", None)
    assert set(figures) == EXPECTED[scenario]
    if scenario == "capacity":
        # The search's log: doubling from 2 runs, every step complete, the last one the overload.
        assert isinstance(steps, list)
        assert steps[0]["runs"] == 2
        assert steps[-1]["runs"] == 2 * figures["runs_per_worker"]
        for step in steps:
            assert set(step) == STEP
            assert step["complete"] is True
            assert all(_measured(k, step[k]) for k in STEP - {"complete", "ok"}), step
    bad = {k: v for k, v in figures.items() if not _measured(k, v)}
    assert bad == {}


def test_report_describes_the_machine(report: dict[str, object]) -> None:
    machine = report["machine"]
    assert machine["cpus"] >= 1  # type: ignore[index]
