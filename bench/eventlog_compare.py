"""In-process event log vs Redis Streams, measured in the same run.

A producer makes N ~330-byte frames at full speed and a publisher appends whatever accumulated
while its previous append was in flight (the recorder's group commit does the same); one reader
follows through a *separate* log instance, so with Redis every event crosses Redis (XADD → XREAD
mirror), exactly like a viewer attached to another process. Reports events/s through one stream
and per-event latency (publish → reader has it), median of repeats, and the Redis/in-process ratio.

    uv run python bench/eventlog_compare.py [--events N] [--repeats R] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

from redis.asyncio import Redis

from tandem.runs.eventlog import EventLog, InProcessEventLog
from tandem.runs.redis_log import RedisEventLog

PAD = "x" * 250


def frame(seq: int) -> bytes:
    payload = json.dumps({"type": "agent_delta", "seq": seq, "t": time.perf_counter_ns(), "pad": PAD})
    return b"id: %d\ndata: %s\n\n" % (seq, payload.encode())


async def measure(writer: EventLog, reader: EventLog, events: int, rate: float | None) -> tuple[float, float, float]:
    run_id = str(uuid.uuid4())
    writer.open(run_id)
    latencies: list[float] = []

    async def follow() -> None:
        after = 0
        while after < events:
            batch = await reader.read(run_id, after, timeout=5)
            if batch is None:
                await asyncio.sleep(0.001)
                continue
            now = time.perf_counter_ns()
            for raw in batch.frames:
                sent = json.loads(raw.split(b"data: ", 1)[1])["t"]
                latencies.append((now - sent) / 1e6)
            after += len(batch.frames)

    pending: list[tuple[int, bytes]] = []
    produced = asyncio.Event()

    async def produce() -> None:
        begin = time.perf_counter()
        for seq in range(1, events + 1):
            pending.append((seq, frame(seq)))
            produced.set()
            if rate is not None:
                await asyncio.sleep(max(0.0, begin + seq / rate - time.perf_counter()))
            elif seq % 50 == 0:
                await asyncio.sleep(0)  # a live run yields to the loop between model chunks

    async def publish() -> None:
        published = 0
        while published < events:
            await produced.wait()
            produced.clear()
            batch = pending[:]
            del pending[: len(batch)]
            published += len(batch)
            await writer.append(run_id, batch, closed=published == events)

    start = time.perf_counter()
    reading = asyncio.create_task(follow())
    await asyncio.gather(produce(), publish(), reading)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return events / elapsed, statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the paced scenario")
    args = parser.parse_args()

    scenarios = {"full speed": (args.events, None), f"paced {args.rate:.0f}/s": (args.events // 10, args.rate)}
    summary: dict[str, dict[str, float]] = {}
    print(f"{args.repeats} repeats each, medians")
    print(f"{'scenario':<16}{'log':<12}{'events':>8}{'events/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for scenario, (events, rate) in scenarios.items():
        results: dict[str, list[tuple[float, float, float]]] = {"in-process": [], "redis": []}
        for _ in range(args.repeats):
            local = InProcessEventLog(retention=60)
            results["in-process"].append(await measure(local, local, events, rate))
            writer = RedisEventLog(Redis.from_url(args.redis), retention=60)
            reader = RedisEventLog(Redis.from_url(args.redis), retention=60)
            results["redis"].append(await measure(writer, reader, events, rate))
            await writer.close()
            await reader.close()
        for name, rows in results.items():
            throughput, p50, p99 = (statistics.median(column) for column in zip(*rows, strict=True))
            summary[f"{scenario} / {name}"] = {"events_per_s": throughput, "p50_ms": p50, "p99_ms": p99}
            print(f"{scenario:<16}{name:<12}{events:>8}{throughput:>12,.0f}{p50:>10.3f}{p99:>10.3f}")
    full = [value["events_per_s"] for key, value in summary.items() if key.startswith("full speed")]
    print(f"redis / in-process throughput at full speed: {full[1] / full[0]:.2f}x")
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
