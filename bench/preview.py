"""The Preview's reload after a file change (issue 16): from a file's PUT to the change event parsed
by a client of `GET /projects/{id}/events`, on the server that took the PUT and on another process
sharing its database (SQLite file; the same poll serves PostgreSQL).

`uv run python -m bench.preview` (`--repeats N`). Baselines, same run: the PUT's own round trip (no
notification can arrive before the write is answered, so it is the floor), and the 2 s poll of the
file list the stream replaced (a client polling `GET /files`, from the PUT to the poll that sees it).
Target: p50 ≤ 300 ms from the PUT to the event (the frame's reload follows one file-list request later).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from bench.report import print_figures
from bench.servers import Process, running, tandem_process

POLL_SECONDS = 2.0
"""What the Preview tab polled before the stream."""


async def _changes(response: httpx.Response) -> AsyncIterator[dict[str, object]]:
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield json.loads("\n".join(data))
            data = []


async def _event_latencies(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, project: int, repeats: int
) -> tuple[list[float], list[float]]:
    """(PUT round trips, PUT → event parsed by `reader`'s client), in ms."""
    puts: list[float] = []
    events: list[float] = []
    async with reader.stream("GET", f"/projects/{project}/events") as response:
        stream = _changes(response)
        first = await anext(stream)
        assert first["type"] == "watching", first
        for index in range(repeats):
            start = time.perf_counter()
            answer = await writer.put(f"/projects/{project}/files/index.html", json={"content": f"<p>{index}</p>"})
            answer.raise_for_status()
            puts.append((time.perf_counter() - start) * 1000)
            event = await asyncio.wait_for(anext(stream), 30)
            events.append((time.perf_counter() - start) * 1000)
            assert event["type"] == "files_changed", event
            await asyncio.sleep(0.05)  # apart, so each PUT lands at its own phase of the poll
    return puts, events


async def _poll_latencies(client: httpx.AsyncClient, project: int, repeats: int) -> list[float]:
    """A client polling the file list every `POLL_SECONDS`: from each PUT to the poll that shows it."""
    samples: list[float] = []
    for index in range(repeats):
        start = time.perf_counter()
        content = f"<p>poll {index}</p>"
        await client.put(f"/projects/{project}/files/index.html", json={"content": content})
        # The poll runs at its own pace: the PUT lands somewhere in its period.
        await asyncio.sleep(POLL_SECONDS * ((index * 0.618) % 1))
        await client.get(f"/projects/{project}/files")
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples), 1)


async def measure(one: Process, two: Process, repeats: int) -> dict[str, float]:
    async with (
        httpx.AsyncClient(base_url=f"{one.url}/api/v1", timeout=60) as a,
        httpx.AsyncClient(base_url=f"{two.url}/api/v1", timeout=60) as b,
    ):
        project = (await a.post("/projects", json={"name": "bench", "template": "static-site"})).json()["id"]
        puts, same = await _event_latencies(a, a, project, repeats)
        _, other = await _event_latencies(a, b, project, repeats)
        poll = await _poll_latencies(a, project, max(5, repeats // 4))
    return {
        "put_p50_ms": _p50(puts),
        "event_same_process_p50_ms": _p50(same),
        "event_same_process_worst_ms": round(max(same), 1),
        "event_other_process_p50_ms": _p50(other),
        "event_other_process_worst_ms": round(max(other), 1),
        "poll_2s_p50_ms": _p50(poll),
        "event_over_put": round(_p50(same) / _p50(puts), 1),
        "poll_over_event": round(_p50(poll) / _p50(other), 1),
    }


def main(repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        one, two = tandem_process(data / "data", {}), tandem_process(data / "data", {})
        # One after the other: the second finds the database migrated.
        with running(one), running(two):
            return asyncio.run(measure(one, two, repeats))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=40)
    figures = main(parser.parse_args().repeats)
    print_figures(figures)
