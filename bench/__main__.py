"""Tandem's streaming benchmarks against a bare-ASGI baseline measured in the same run.

    uv run python -m bench                 # full sizes (issue 5), ~3 minutes
    uv run python -m bench --quick         # every figure, small sizes, well under a minute
    uv run python -m bench --only throughput,replay --profile
    uv run python -m bench --backend postgres+redis   # fresh PostgreSQL database + Redis

Prints a table and writes the figures as JSON to bench/results/. TANDEM_DATABASE_URL and
TANDEM_EVENTS_URL set in the environment are passed to every Tandem server (`--backend env`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from bench.capacity import SCENARIOS as PROVIDER_SCENARIOS
from bench.profile import summarize
from bench.report import table
from bench.scenarios import FULL, QUICK, SCENARIOS, SHORT_RETENTION, Context, Sizes, baseline_events
from bench.servers import (
    BACKEND_VARIABLES,
    ROOT,
    baseline_process,
    provider_process,
    raise_file_limit,
    running,
    tandem_process,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
ALL_SCENARIOS = SCENARIOS | PROVIDER_SCENARIOS


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True, capture_output=True)


@contextmanager
def backend(name: str) -> Iterator[dict[str, str]]:
    if name == "sqlite":
        yield {}
    elif name == "env":
        yield {k: os.environ[k] for k in BACKEND_VARIABLES if k in os.environ}
    else:
        database = f"tandem_bench_{uuid.uuid4().hex[:10]}"
        _psql(f"CREATE DATABASE {database}")
        try:
            yield {
                "TANDEM_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
                "TANDEM_EVENTS_URL": os.environ.get("BENCH_REDIS_URL", REDIS_URL),
            }
        finally:
            _psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(int(memory) / 2**20, 1),
        "python": sys.version.split()[0],
    }


def check_figures(results: dict[str, dict[str, Any]]) -> list[str]:
    """Names of figures that are not positive finite numbers (a search's `steps` are its log, not figures)."""
    return [
        f"{scenario}.{name}"
        for scenario, figures in results.items()
        for name, value in figures.items()
        if name != "steps" and not (isinstance(value, int | float) and math.isfinite(value) and value > 0)
    ]


def _report(
    mode: str,
    backend_name: str,
    started: float,
    timings: dict[str, float],
    sizes: Sizes,
    results: dict[str, dict[str, Any]],
    workers: int,
) -> dict[str, Any]:
    return {
        "mode": mode,
        "backend": backend_name,
        "provider_path_workers": workers,
        "machine": machine(),
        "seconds": round(time.monotonic() - started, 1),
        "scenario_seconds": timings,
        "sizes": dataclasses.asdict(sizes),
        "results": results,
    }


def write(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


def _overrides(pairs: list[str]) -> dict[str, float]:
    values = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        values[name] = float(value) if "." in value else int(value)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: every figure in well under a minute")
    parser.add_argument("--only", default=",".join(ALL_SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--backend", choices=["sqlite", "postgres+redis", "env"], default="env")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes of the provider-path server (>1: PostgreSQL + Redis)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the server during throughput and latency")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SIZE=N", help="override one size, e.g. throughput_events=20000"
    )
    parser.add_argument("--out", type=Path, help="JSON output (default: bench/results/<mode>-<backend>-<time>.json)")
    args = parser.parse_args()

    raise_file_limit()
    mode = "quick" if args.quick else "full"
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    profile_dir = results_dir if args.profile else None
    results: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    started = time.monotonic()
    sizes = dataclasses.replace(QUICK if args.quick else FULL, **_overrides(args.set))
    label = "postgres-redis" if args.backend == "postgres+redis" or os.environ.get("TANDEM_EVENTS_URL") else "sqlite"
    out = args.out or results_dir / f"{mode}-{label}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    backend_name = label.replace("-", "+")
    with backend(args.backend) as env, tempfile.TemporaryDirectory(prefix="tandem-bench-") as data:
        ctx = Context(
            sizes=sizes,
            tandem=tandem_process(Path(data) / "main", env),
            tandem_short_retention=tandem_process(
                Path(data) / "short", {**env, "TANDEM_EVENT_RETENTION_SECONDS": str(SHORT_RETENTION)}
            ),
            baseline=baseline_process(baseline_events(sizes)),
            provider=(source := provider_process()),
            tandem_provider=tandem_process(
                Path(data) / "provider", {**env, **source.model_env()}, workers=args.workers
            ),
            profile_dir=profile_dir,
        )
        with running(ctx.tandem, ctx.tandem_short_retention, ctx.baseline, ctx.provider, ctx.tandem_provider):
            print(f"servers up after {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
            for name in args.only.split(","):
                print(f"… {name}", file=sys.stderr, flush=True)
                begun = time.monotonic()
                results[name] = ALL_SCENARIOS[name](ctx)
                timings[name] = round(time.monotonic() - begun, 1)
                # Written after every scenario: a failure later loses nothing measured so far.
                write(out, _report(mode, backend_name, started, timings, sizes, results, args.workers))
    report = _report(mode, backend_name, started, timings, sizes, results, args.workers)
    write(out, report)
    print(table(report))
    for name in ("throughput", "latency", "provider", "capacity") if profile_dir is not None else ():
        if name in results and (folded := profile_dir / f"{name}.folded").exists():
            summary = summarize(folded, name)
            (profile_dir / f"{name}-profile.txt").write_text(summary)
            print(summary)
    print(f"JSON: {out}")
    if bad := check_figures(results):
        sys.exit(f"figures missing or not positive: {', '.join(bad)}")


if __name__ == "__main__":
    main()
