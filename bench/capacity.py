"""Issue 17's scenarios on the provider path: every token comes from an OpenAI-compatible server on
loopback (`bench/provider.py`, not AI) through the OpenAI SDK, pydantic-ai's OpenAI model and Tandem.

- `provider`: one run streaming `provider_tokens` chunks as fast as it can; server CPU per chunk, next
  to the same run shape on the scripted path (`FunctionModel`) in the same invocation.
- `capacity`: the most concurrent live runs at `capacity_rate` tokens/s that one server carries with
  emit→parse p99 ≤ `capacity_p99_ms`: doubling from `capacity_start`, then bisection, each step
  `capacity_seconds` long; then the same at twice that many runs (overload).
"""

from __future__ import annotations

import sys
from typing import Any

from bench.scenarios import Context, Figures, _chat, _require_complete, script
from bench.servers import (
    Api,
    Process,
    children_cpu_seconds,
    cpu_seconds,
    profiling,
    run_client,
    services_cpu_seconds,
)


def directive(tokens: int, rate: float) -> str:
    return f"Benchmark [provider tokens={tokens} rate={rate}]: append a line to the notes."


class Projects:
    """Projects to start runs in, one live run each, made as a step first needs more."""

    def __init__(self, server: Process) -> None:
        self._api = Api(server.url)
        self._ids: list[int] = []

    def take(self, count: int) -> list[int]:
        if count > len(self._ids):
            self._ids.extend(self._api.projects(count - len(self._ids)))
        return self._ids[:count]

    def close(self) -> None:
        self._api.close()


# -- CPU per chunk ----------------------------------------------------------------------------------


def provider(ctx: Context) -> Figures:
    sizes, server, source = ctx.sizes, ctx.tandem_provider, ctx.provider
    projects = Projects(server)
    scripted_projects = Projects(ctx.tandem)
    try:
        warm, measured = projects.take(2)
        # The first run pays for the model check and lazy imports.
        _require_complete(run_client({"mode": "stream", "port": server.port, "target": _chat(warm, directive(200, 0))}))
        target = _chat(measured, directive(sizes.provider_tokens, 0))
        before = cpu_seconds(server.pid), cpu_seconds(source.pid)
        with profiling(server.pid, ctx.profile_dir / "provider.folded" if ctx.profile_dir else None):
            result = run_client({"mode": "stream", "port": server.port, "target": target})
        _require_complete(result)
        server_cpu = cpu_seconds(server.pid) - before[0]
        source_cpu = cpu_seconds(source.pid) - before[1]
        # The same number of chunks from the scripted model, on the scripted server, now.
        scripted_target = _chat(scripted_projects.take(1)[0], script(result["emitted"]))
        scripted_before = cpu_seconds(ctx.tandem.pid)
        scripted = run_client({"mode": "stream", "port": ctx.tandem.port, "target": scripted_target})
        _require_complete(scripted)
        scripted_cpu = cpu_seconds(ctx.tandem.pid) - scripted_before
    finally:
        projects.close()
        scripted_projects.close()
    return {
        "chunks": result["emitted"],
        "wire_events": result["events"],
        "chunks_per_s": result["emitted"] / result["seconds"],
        "server_cpu_us_per_chunk": 1e6 * server_cpu / result["emitted"],
        "provider_cpu_us_per_chunk": 1e6 * source_cpu / result["emitted"],
        "scripted_chunks_per_s": scripted["emitted"] / scripted["seconds"],
        "scripted_cpu_us_per_chunk": 1e6 * scripted_cpu / scripted["emitted"],
    }


# -- capacity ---------------------------------------------------------------------------------------


def _step(ctx: Context, projects: Projects, runs: int) -> dict[str, Any]:
    """`runs` concurrent runs at `capacity_rate` tokens/s for about `capacity_seconds`."""
    sizes, server, source = ctx.sizes, ctx.tandem_provider, ctx.provider
    tokens = int(sizes.capacity_rate * sizes.capacity_seconds)
    targets = [_chat(p, directive(tokens, sizes.capacity_rate)) for p in projects.take(runs)]
    before = cpu_seconds(server.pid), cpu_seconds(source.pid), services_cpu_seconds(), children_cpu_seconds()
    result = run_client({"mode": "latency", "port": server.port, "targets": targets, "stagger": 1.0})
    server_cpu = (cpu_seconds(server.pid) - before[0]) / result["seconds"]
    source_cpu = (cpu_seconds(source.pid) - before[1]) / result["seconds"]
    # The client's CPU covers its whole process (start-up too), over the measured seconds: an upper bound.
    client_cpu = (children_cpu_seconds() - before[3]) / result["seconds"]
    services_cpu = (services_cpu_seconds() - before[2]) / result["seconds"]
    step = {
        "runs": runs,
        "p50_ms": result["latency_ms"]["p50"],
        "p99_ms": result["latency_ms"]["p99"],
        "max_ms": result["latency_ms"]["p100"],
        "chunks_per_s": result["samples"] / result["seconds"],
        "asked_chunks_per_s": runs * sizes.capacity_rate,
        "events_per_s": result["events"] / result["seconds"],
        "seconds": result["seconds"],
        "server_cpu": server_cpu,
        "provider_cpu": source_cpu,
        "client_cpu": client_cpu,
        "services_cpu": services_cpu,
        "server_cpu_us_per_chunk": 1e6 * server_cpu * result["seconds"] / max(1, result["samples"]),
        "complete": result["last_types"] == ["complete"],
    }
    step["ok"] = step["complete"] and step["p99_ms"] <= sizes.capacity_p99_ms
    print(
        f"  {runs} runs: p99 {step['p99_ms']:.1f} ms, CPU: server {server_cpu:.2f}, "
        f"databases {services_cpu:.2f}, client {client_cpu:.2f}",
        file=sys.stderr,
        flush=True,
    )
    return step


def capacity(ctx: Context) -> Figures:
    sizes = ctx.sizes
    projects = Projects(ctx.tandem_provider)
    steps: list[dict[str, Any]] = []
    try:
        _step(ctx, projects, 1)  # warm-up: the model check, lazy imports
        good, bad = 0, None
        runs = sizes.capacity_start
        while bad is None and runs <= sizes.capacity_max:
            steps.append(_step(ctx, projects, runs))
            if steps[-1]["ok"]:
                good, runs = runs, runs * 2
            else:
                bad = runs
        while bad is not None and bad - good > max(1, good // 10):
            middle = (good + bad) // 2
            steps.append(_step(ctx, projects, middle))
            good, bad = (middle, bad) if steps[-1]["ok"] else (good, middle)
        found = max(good, 1)
        with profiling(ctx.tandem_provider.pid, ctx.profile_dir / "capacity.folded" if ctx.profile_dir else None):
            overload = _step(ctx, projects, 2 * found)
    finally:
        projects.close()
    at_capacity = max((s for s in steps if s["runs"] == good), key=lambda s: s["runs"], default=steps[0])
    return {
        "runs_per_worker": found,
        "searched_up_to": bad or sizes.capacity_max,
        "p99_ms": at_capacity["p99_ms"],
        "server_cpu": at_capacity["server_cpu"],
        "provider_cpu": at_capacity["provider_cpu"],
        "client_cpu": at_capacity["client_cpu"],
        "services_cpu": at_capacity["services_cpu"],
        "server_cpu_us_per_chunk": at_capacity["server_cpu_us_per_chunk"],
        "overload_runs": overload["runs"],
        "overload_p50_ms": overload["p50_ms"],
        "overload_p99_ms": overload["p99_ms"],
        "overload_chunks_per_s": overload["chunks_per_s"],
        "overload_asked_chunks_per_s": overload["asked_chunks_per_s"],
        "steps": [*steps, overload],
    }


SCENARIOS = {"provider": provider, "capacity": capacity}
