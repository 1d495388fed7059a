"""The search process behind `ProjectFiles.search`: Python's `re` over a project's lines.

Run as `python -I -S grep.py SECONDS` (standard library only, so it starts in a few tens of
milliseconds). stdin: one JSON object `{"pattern", "limit", "files": [[path, content], ...]}`;
stdout: JSON `[[path, line_number, text], ...]`. The parent kills it when its time budget runs out
or the search is cancelled; the alarm below ends it even if the parent died without doing so.
"""

from __future__ import annotations

import json
import math
import re
import signal
import sys

LINE_CHARS = 300


def scan(pattern: str, files: list[tuple[str, str]], limit: int) -> list[tuple[str, int, str]]:
    """Lines matching `pattern` as a regular expression, or as literal text if it is not a valid one."""
    try:
        regex = re.compile(pattern)
    except re.error:
        regex = re.compile(re.escape(pattern))
    hits: list[tuple[str, int, str]] = []
    for path, content in files:
        for number, text in enumerate(content.splitlines(), start=1):
            if regex.search(text):
                hits.append((path, number, text[:LINE_CHARS]))
                if len(hits) >= limit:
                    return hits
    return hits


def main() -> None:
    # SIGALRM's default action ends the process: a backstop one second past the parent's deadline.
    signal.alarm(math.ceil(float(sys.argv[1])) + 1)
    # Bytes in, ASCII out (`ensure_ascii`): whatever the locale, the text arrives as the parent sent it.
    request = json.load(sys.stdin.buffer)
    json.dump(scan(request["pattern"], request["files"], request["limit"]), sys.stdout)


if __name__ == "__main__":
    main()
