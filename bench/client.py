"""The benchmark client: runs in its own process (so it never shares a core's event loop with the
server), takes one scenario spec as JSON (or `@file` holding it) on argv, prints its measurements
as one JSON line.

    python -m bench.client '{"mode": "stream", "port": 8000, "target": {"method": "GET", "path": "/stream"}}'

Modes: `stream` (read one stream to its end: events/s), `latency` (many paced streams at once:
emit→parse latency from the stamp in each benchmark delta), `first` (sequential POSTs: time to the
first event), `idle` (hold many streams open; prints `ready`, closes them on a line from stdin),
`stalled` (like `idle`, but never reads a byte), `download` (read a body to a file: bytes, seconds).
"""

from __future__ import annotations

import asyncio
import fcntl
import math
import socket
import sys
import termios
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
from bench.wire import STAMP, Event, request

HOST = "127.0.0.1"
_TERMINAL = ("complete", "error")


class SequenceError(Exception):
    pass


def _check_sequence(events: list[Event], expected: int) -> int:
    """Event ids must run expected, expected+1, ... with no gap or duplicate; returns the next one."""
    for event in events:
        if event.id != expected or event.payload.get("seq", expected) != expected:
            raise SequenceError(f"expected event {expected}, got id {event.id}")
        expected += 1
    return expected


async def _read_stream(target: dict[str, Any], port: int, stamps: list[float] | None = None) -> dict[str, Any]:
    """Open one stream, read it to its end; every stamped delta's latency goes into `stamps`."""
    started = time.monotonic()
    response = await request(HOST, port, target["method"], target["path"], body=target.get("body"))
    if response.status != 200:
        raise RuntimeError(f"{target['method']} {target['path']}: HTTP {response.status}")
    count, emitted, expected, last_type, finished, run_id = 0, 0, target.get("after", 0) + 1, "", started, None
    try:
        async for events, parsed_at in response.events():
            expected = _check_sequence(events, expected)
            count += len(events)
            run_id = run_id or events[0].payload.get("run_id")
            last_type, finished = events[-1].payload["type"], parsed_at
            for event in events:
                delta = event.payload["data"].get("delta") if event.payload["type"] == "agent_delta" else None
                emitted_at = [float(s) for s in STAMP.findall(delta)] if delta is not None else []
                emitted += len(emitted_at) or 1
                if stamps is not None:
                    stamps.extend(parsed_at - at for at in emitted_at)
    finally:
        response.close()
    # `emitted` counts what the run emitted, a stamped chunk each, before Tandem joined any deltas
    # (a joined delta of words alone counts once: a slight undercount).
    return {
        "events": count,
        "emitted": emitted,
        "seconds": finished - started,
        "last_type": last_type,
        "run_id": run_id,
    }


async def stream(spec: dict[str, Any]) -> dict[str, Any]:
    return await _read_stream(spec["target"], spec["port"])


async def latency(spec: dict[str, Any]) -> dict[str, Any]:
    """Start every stream, `stagger` seconds apart in all, and collect every stamped delta's latency."""
    targets: list[dict[str, Any]] = spec["targets"]
    gap = spec.get("stagger", 0.0) / max(1, len(targets))
    stamps: list[float] = []

    async def one(index: int, target: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(index * gap)
        return await _read_stream(target, spec["port"], stamps)

    started = time.monotonic()
    results = await asyncio.gather(*(one(i, t) for i, t in enumerate(targets)))
    seconds = time.monotonic() - started
    latencies = sorted(s * 1000 for s in stamps)
    return {
        # Percentiles here, not the samples: 200,000 of them would make a multi-megabyte line.
        "latency_ms": {f"p{q}": percentile(latencies, q / 100) for q in (50, 90, 99, 100)},
        "samples": len(latencies),
        "events": sum(r["events"] for r in results),
        "seconds": seconds,
        "last_types": sorted({r["last_type"] for r in results}),
    }


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted samples (NaN if there are none)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def first(spec: dict[str, Any]) -> dict[str, Any]:
    """POST one at a time; the time to the first parsed event, then read to the end so runs never overlap."""
    samples: list[float] = []
    for target in spec["targets"]:
        started = time.monotonic()
        response = await request(HOST, spec["port"], target["method"], target["path"], body=target.get("body"))
        got_first = False
        try:
            async for events, parsed_at in response.events():
                if not got_first:
                    if events[0].payload["type"] != spec.get("first_type", "start"):
                        raise RuntimeError(f"first event is {events[0].payload['type']}")
                    samples.append((parsed_at - started) * 1000)
                    got_first = True
        finally:
            response.close()
        if not got_first:
            raise RuntimeError(f"{target['path']}: no event")
    return {"first_ms": samples}


async def idle(spec: dict[str, Any]) -> dict[str, Any]:
    """Attach every stream, wait until each has its first event, say `ready`, hold them until told."""
    semaphore = asyncio.Semaphore(200)  # connect in waves: a 5,000-connection burst overflows the backlog

    async def attach(target: dict[str, Any]) -> Any:
        async with semaphore:
            response = await request(HOST, spec["port"], "GET", target["path"])
            async for _events, _at in response.events():
                return response
            raise RuntimeError(f"{target['path']}: stream ended before its first event")

    responses = await asyncio.gather(*(attach(t) for t in spec["targets"]))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for response in responses:
        response.close()
    return {"streams": len(responses)}


async def stalled(spec: dict[str, Any]) -> dict[str, Any]:
    """Send every request and never read: the server's write buffers and send queues fill. Says
    `ready` once the server has begun answering every one (bytes wait in each receive queue), holds
    them until told; reports how many the server had reset."""
    loop = asyncio.get_running_loop()
    sockets = []
    for target in spec["targets"]:
        sock = socket.socket()
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        await loop.sock_connect(sock, (HOST, spec["port"]))
        await loop.sock_sendall(sock, f"GET {target['path']} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        sockets.append(sock)
    deadline = time.monotonic() + 120
    while not all(_unread(sock) for sock in sockets):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{sum(not _unread(s) for s in sockets)} streams got no answer in 120 s")
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    reset = sum(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == 7 for sock in sockets)  # TCP_CLOSE
    for sock in sockets:
        sock.close()
    return {"streams": len(sockets), "reset": reset}


def _unread(sock: socket.socket) -> int:
    """Bytes waiting in the socket's receive queue (read without taking them)."""
    return int.from_bytes(fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


async def download(spec: dict[str, Any]) -> dict[str, Any]:
    """GET a body and write it to `spec["file"]`, as a browser saving a download would."""
    started = time.monotonic()
    response = await request(HOST, spec["port"], "GET", spec["path"])
    if response.status != 200:
        raise RuntimeError(f"GET {spec['path']}: HTTP {response.status}")
    size = 0
    with Path(spec["file"]).open("wb") as out:  # noqa: ASYNC230 - this process does nothing else meanwhile
        async for chunk in response.body_chunks():
            out.write(chunk)
            size += len(chunk)
    response.close()
    return {"bytes": size, "seconds": time.monotonic() - started}


MODES = {"stream": stream, "latency": latency, "first": first, "idle": idle, "stalled": stalled, "download": download}


def main() -> None:
    argument = sys.argv[1]
    spec = orjson.loads(Path(argument[1:]).read_bytes() if argument.startswith("@") else argument)
    result = uvloop.run(MODES[spec["mode"]](spec))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
