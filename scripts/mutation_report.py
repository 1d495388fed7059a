"""Per-module mutation scores from the results mutmut left in `mutants/` (run by `make mutation`).

A mutant counts as killed when a test failed on it, or when it made the tests time out (an infinite
loop the tests noticed). "No tests" means no fast test reached the mutated function: it counts
against the score, like a survivor. Not-yet-checked mutants are left out of the score and listed.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

KILLED = {1, 3}
TIMEOUT = {-24, 24, 36, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}
NOT_CHECKED = {None}


@dataclass
class Score:
    module: str
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    no_tests: int = 0
    not_checked: int = 0
    other: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.killed + self.timeout + self.survived + self.no_tests + self.not_checked + self.other

    @property
    def checked(self) -> int:
        return self.total - self.not_checked

    def score(self) -> str:
        return f"{100 * (self.killed + self.timeout) / self.checked:.1f} %" if self.checked else "-"


def scores(mutants: Path) -> list[Score]:
    result = []
    for meta in sorted((mutants / "src").rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        module = ".".join(meta.relative_to(mutants / "src").with_suffix("").with_suffix("").parts)
        score = Score(module)
        for name, code in sorted(codes.items()):
            if code in KILLED:
                score.killed += 1
            elif code in TIMEOUT:
                score.timeout += 1
            elif code in SURVIVED:
                score.survived += 1
                score.survivors.append(name)
            elif code in NO_TESTS:
                score.no_tests += 1
                score.survivors.append(name)
            elif code in NOT_CHECKED:
                score.not_checked += 1
            else:
                score.other += 1
        result.append(score)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's working directory")
    parser.add_argument("--survivors", action="store_true", help="also list surviving mutants (`mutmut show NAME`)")
    args = parser.parse_args()
    print("| module | mutants | killed | timeout | survived | no tests | not checked | other | score |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in scores(args.mutants):
        print(
            f"| {s.module} | {s.total} | {s.killed} | {s.timeout} | {s.survived} | {s.no_tests} "
            f"| {s.not_checked} | {s.other} | {s.score()} |"
        )
    if args.survivors:
        for s in scores(args.mutants):
            for name in s.survivors:
                print(name)


if __name__ == "__main__":
    main()
