"""Start-up (issue 15): from `tandem serve` to the first `200` from `/api/v1/health`.

`uv run python -m bench.startup` (`--repeats N`). Baseline, same run, interleaved: the same Python
serving a bare FastAPI app with one `/health` route on uvicorn, i.e. what any FastAPI server pays to
start on this machine. Cases:
- fresh: a new data folder (the database is created and migrated);
- restart: the same folder again (the schema is current: no migration runs);
- scripted: `TANDEM_MODEL=scripted`, whose health check needs no model library either.
Figures: median and worst of N, and the median's ratio to the baseline's. Target: ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench.report import print_figures

BASELINE_APP = """
import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/api/v1/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning", loop="uvloop")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _time_to_health(argv: list[str], port: int, env: dict[str, str]) -> float:
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 120:
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                time.sleep(0.005)
        raise RuntimeError(f"{argv} did not answer within 120 s")
    finally:
        process.terminate()
        process.wait()


def _tandem(port: int) -> list[str]:
    # `--port` and the preview origin's port + 1 must both be free; a bound pair from `_free_port` is not
    # guaranteed, so the preview origin is off (it costs one socket, not start-up time).
    return [sys.executable, "-m", "tandem", "serve", "--port", str(port), "--log-level", "warning"]


def main(repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {"baseline": [], "fresh": [], "restart": [], "scripted": []}
    base_env = {**os.environ, "TANDEM_PREVIEW_PORT": "0"}
    base_env.pop("TANDEM_MODEL", None)
    for _ in range(repeats):  # interleaved, so that load on the machine falls on every case alike
        port = _free_port()
        samples["baseline"].append(_time_to_health([sys.executable, "-c", BASELINE_APP, str(port)], port, base_env))
        with tempfile.TemporaryDirectory() as folder:
            env = {**base_env, "TANDEM_DATA_DIR": folder}
            samples["fresh"].append(_time_to_health(_tandem(port), port, env))
            samples["restart"].append(_time_to_health(_tandem(port), port, env))
        with tempfile.TemporaryDirectory() as folder:
            env = {**base_env, "TANDEM_DATA_DIR": folder, "TANDEM_MODEL": "scripted"}
            _time_to_health(_tandem(port), port, env)  # migrates; the next start is measured
            samples["scripted"].append(_time_to_health(_tandem(port), port, env))
    baseline = statistics.median(samples["baseline"])
    figures: dict[str, float] = {}
    for case, values in samples.items():
        median = statistics.median(values)
        figures[f"{case}_s"] = round(median, 2)
        figures[f"{case}_worst_s"] = round(max(values), 2)
        if case != "baseline":
            figures[f"{case}_ratio"] = round(median / baseline, 2)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    os.chdir(Path(__file__).resolve().parent.parent)
    figures = main(parser.parse_args().repeats)
    print_figures(figures)
