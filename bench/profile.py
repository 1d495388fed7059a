"""Summarise a py-spy `--format raw` profile (folded stacks): where the server's CPU time goes."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
_TOP = 25


def _frame(frame: str) -> str:
    """`func (path/to/module.py:123)` → `func (to/module.py)`: lines merged, paths shortened."""
    name, _, where = _LINE.sub(")", frame).partition(" (")
    parts = where.rstrip(")").split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def summarize(path: Path, scenario: str) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")[1:]]  # the first entry names the thread
        samples += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    lines = [f"py-spy: {samples} samples of the Tandem server ({scenario} scenario)", "", "self time:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(_TOP)]
    lines += ["", "inclusive time (tandem, sqlalchemy, pydantic-ai, uvicorn, asyncio frames):"]
    interesting = ("tandem/", "sqlalchemy/", "pydantic_ai/", "uvicorn/", "asyncio/", "aiosqlite/", "asyncpg/", "redis/")
    picked = [(name, n) for name, n in total.most_common() if any(k in name for k in interesting)]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in picked[: _TOP * 2]]
    return "\n".join(lines) + "\n"
