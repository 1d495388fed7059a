"""The baseline: a bare ASGI app on Tandem's server stack (uvicorn + httptools + uvloop) streaming the
same events with one `send` per pre-encoded event. It is the ceiling of Python SSE on this machine
(DESIGN §7), measured in the same run as every scenario so the results are ratios.

    python -m bench.baseline --port P --events N

Routes:
- `GET /stream?n=N&kind=delta|padded` — N pre-encoded frames (the throughput and replay ceiling).
- `GET /paced?n=N&interval=S` — N frames, one every S seconds, each stamped with its send time.
- `GET /idle` — one `start` frame, then nothing until the client leaves (memory per idle stream).
- `POST /first` — one `start` frame, then the end (time to first event).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import uvicorn

from tandem.events import AgentDeltaData, StartData, envelope, sse_frame

Scope = dict[str, Any]
_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
PADDED_BYTES = 330


def delta_frame(run_id: str, seq: int) -> bytes:
    """Exactly the frame Tandem sends for one scripted benchmark delta (see `ScriptedModel`)."""
    data = AgentDeltaData(agent_name="Coder", message_type="thought", delta=f"{time.monotonic():.6f} ")
    return sse_frame(seq, envelope(run_id, seq, data).model_dump_json())


def padded_frame(run_id: str, seq: int) -> bytes:
    """A delta frame padded to ~330 bytes: the event size DESIGN §7's figures were measured with."""
    frame = delta_frame(run_id, seq)
    pad = max(0, PADDED_BYTES - len(frame))
    data = AgentDeltaData(agent_name="Coder", message_type="thought", delta="x" * pad)
    return sse_frame(seq, envelope(run_id, seq, data).model_dump_json())


def start_frame(run_id: str) -> bytes:
    data = StartData(session_id=1, user_message_id=1, run_id=run_id, assistant_message_id=2)
    return sse_frame(1, envelope(run_id, 1, data).model_dump_json())


class BaselineApp:
    def __init__(self, events: int) -> None:
        run_id = str(uuid.uuid4())
        # Encoded before any request: the baseline measures sending, nothing else.
        self.frames = {
            "delta": [delta_frame(run_id, seq) for seq in range(1, events + 1)],
            "padded": [padded_frame(run_id, seq) for seq in range(1, events + 1)],
        }
        self.start = start_frame(run_id)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        route = getattr(self, "_" + scope["path"].strip("/"), None)
        if route is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await route(query, receive, send)

    async def _stream(self, query: dict[str, str], receive: Any, send: Any) -> None:
        frames = self.frames[query.get("kind", "delta")][: int(query.get("n", "0")) or None]
        for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _paced(self, query: dict[str, str], receive: Any, send: Any) -> None:
        run_id = str(uuid.uuid4())
        interval = float(query["interval"])
        for seq in range(1, int(query["n"]) + 1):
            await asyncio.sleep(interval)
            await send({"type": "http.response.body", "body": delta_frame(run_id, seq), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _idle(self, query: dict[str, str], receive: Any, send: Any) -> None:
        await send({"type": "http.response.body", "body": self.start, "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _first(self, query: dict[str, str], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.body", "body": self.start})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    uvicorn.run(
        BaselineApp(args.events),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
