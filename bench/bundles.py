"""Preview builds of TypeScript/JSX pages (issue 16): what a React page costs to show after an edit.

`uv run python -m bench.bundles` (`--repeats N`). One Tandem server (scripted model, not AI), the
React + TypeScript template, timed over its preview origin, N times each:
- baseline (same run): the static-site template's `index.html`, which needs no build;
- built: the React page after an edit of `src/App.tsx` (esbuild in the command sandbox, ~1 MB bundle
  with React), from the request to the page, and then its bundle, fully read;
- kept: the same page again with nothing changed (the kept bundle).
Figures: median and worst, and the median's ratio to the baseline's.

The alternative, esbuild-wasm in the browser, is measured by `bench/bundles_wasm.mjs` (bench/README.md).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from bench.report import print_figures
from bench.servers import Api, running, tandem_process

_BUNDLE = re.compile(r'<script type="module" src="([^"]+\.js)"></script>')


def _timed(preview: httpx.Client, url: str) -> tuple[float, str]:
    start = time.perf_counter()
    page = preview.get(url).raise_for_status().text
    found = _BUNDLE.search(page)
    if found is not None:
        preview.get(url.removesuffix("index.html") + found.group(1)).raise_for_status()
    elif "Build failed" in page:
        raise RuntimeError(f"the React page did not build: {page[-2000:]}")
    return time.perf_counter() - start, page


def main(repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        server = tandem_process(Path(folder), {})
        with running(server):
            api = Api(server.url)
            links: dict[str, tuple[int, str]] = {}
            with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as client:
                for template in ("static-site", "react-vite"):
                    project = client.post("/projects", json={"name": template, "template": template}).json()
                    url = client.post(f"/projects/{project['id']}/preview").raise_for_status().json()["url"]
                    links[template] = (project["id"], url)
                app = client.get(f"/projects/{links['react-vite'][0]}/files/src/App.tsx").json()["content"]
            samples: dict[str, list[float]] = {"baseline": [], "built": [], "kept": []}
            with httpx.Client(timeout=60) as preview:
                for index in range(repeats):
                    samples["baseline"].append(_timed(preview, links["static-site"][1])[0])
                    api.put_file(links["react-vite"][0], "src/App.tsx", app.replace("Vite", f"Vite {index}"))
                    samples["built"].append(_timed(preview, links["react-vite"][1])[0])
                    samples["kept"].append(_timed(preview, links["react-vite"][1])[0])
            api.close()
    baseline = statistics.median(samples["baseline"])
    figures: dict[str, float] = {}
    for case, values in samples.items():
        figures[f"{case}_ms"] = round(statistics.median(values) * 1000, 1)
        figures[f"{case}_worst_ms"] = round(max(values) * 1000, 1)
        if case != "baseline":
            figures[f"{case}_ratio"] = round(statistics.median(values) / baseline, 1)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    figures = main(parser.parse_args().repeats)
    print_figures(figures)
