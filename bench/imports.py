"""Importing a 5,000-file, 50 MB Git repository (issue 14): time and the server's extra RSS.

`uv run python -m bench.imports` (`--files N --file-bytes B` for other sizes, `--backend postgres+redis`).
A fresh repository of text files (hex of random bytes: git cannot delta or compress them much) is
imported over `file://` through `POST /projects` into a running server; time is from the POST to
the job's `completed` (polled every 50 ms); RSS is the server's, sampled every 10 ms, peak minus
the figure just before. The baseline is the same work without Tandem, on the same machine in the
same run: `git clone --depth 1` of the same URL with a checkout, then every file read once — what
any importer has to do at least. Targets: < 10 s and < 200 MB extra RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench.__main__ import backend
from bench.servers import peak_rss, rss_bytes, tandem_process

RESULTS = Path(__file__).parent / "results"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def make_repository(folder: Path, files: int, file_bytes: int) -> None:
    rng = random.Random(14)
    for i in range(files):
        path = folder / f"pkg{i // 500:02d}" / f"mod{(i // 50) % 10}" / f"file{i:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rng.randbytes(file_bytes // 2).hex())
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True, env=GIT_ENV)
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True, env=GIT_ENV)
    subprocess.run(["git", "commit", "-q", "-m", "bench"], cwd=folder, check=True, env=GIT_ENV)


def baseline(url: str, scratch: Path) -> float:
    start = time.perf_counter()
    target = scratch / "baseline"
    subprocess.run(["git", "clone", "-q", "--depth", "1", url, str(target)], check=True, env=GIT_ENV)
    for path in target.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            path.read_bytes()
    return time.perf_counter() - start


def import_once(client: httpx.Client, url: str, pid: int) -> dict[str, float]:
    before = rss_bytes(pid)
    with peak_rss(pid) as peak:
        start = time.perf_counter()
        job = client.post("/projects", json={"name": "bench import", "source": {"url": url}}).raise_for_status().json()
        while job["status"] == "running":
            time.sleep(0.05)
            job = client.get(f"/imports/{job['id']}").raise_for_status().json()
        seconds = time.perf_counter() - start
    if job["status"] != "completed":
        raise RuntimeError(f"import ended {job['status']}: {job['error_message']}")
    return {"seconds": seconds, "extra_rss_mb": (peak() - before) / 1e6, "files": job["files_total"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--file-bytes", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres+redis"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tandem-bench-import-") as tmp, backend(args.backend) as env:
        scratch = Path(tmp)
        repository = scratch / "repo"
        repository.mkdir()
        make_repository(repository, args.files, args.file_bytes)
        url = repository.as_uri()
        base = min(baseline(url, scratch / f"b{i}") for i in range(args.repeats))
        server = tandem_process(
            scratch / "data", {**env, "TANDEM_MAX_PROJECT_BYTES": str(10**9), "TANDEM_MAX_PROJECT_FILES": "100000"}
        )
        server.launch(scratch).wait_ready()
        try:
            with httpx.Client(base_url=server.url + "/api/v1", timeout=120) as client:
                runs = [import_once(client, url, server.pid) for _ in range(args.repeats)]
        finally:
            server.stop()
    median = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    worst_rss = max(r["extra_rss_mb"] for r in runs)
    report: dict[str, Any] = {
        "files": args.files,
        "megabytes": args.files * args.file_bytes / 1e6,
        "backend": args.backend,
        "tandem_seconds_median": round(median["seconds"], 2),
        "baseline_seconds_min": round(base, 2),
        "ratio": round(median["seconds"] / base, 2),
        "extra_rss_mb_max": round(worst_rss, 1),
        "runs": runs,
        "met": median["seconds"] < 10 and worst_rss < 200,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"import-{args.backend}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(
        f"| import {args.files} files, {report['megabytes']:.0f} MB ({args.backend}) | "
        f"{report['tandem_seconds_median']} s | baseline {report['baseline_seconds_min']} s | "
        f"{report['ratio']}× | +{report['extra_rss_mb_max']} MB RSS | target < 10 s, < 200 MB: "
        f"{'met' if report['met'] else 'NOT met'} |"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
