"""The layers go one way: api → services → runs → agents → workspace/sandbox → persistence (the
agents' tools use the files and the sandbox), read from every import in `src/tandem`, including
those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "tandem"

FLOOR = {
    "api": 6,
    "services": 5,
    "runs": 4,
    "agents": 3,
    "workspace": 2,
    "sandbox": 2,
    "persistence": 1,
    # The base: used by every layer, importing none.
    "events": 0,
    "errors": 0,
    "settings": 0,
    "redaction": 0,
}
COMPOSITION_ROOTS = {"app", "cli", "container", "__main__"}
"""They build the whole from its parts, so they may import anything; nothing imports them but the
request dependencies (`api.deps`), which hand the container's parts to routes."""
ALLOWED = {("api", "container")}
FORBIDDEN = {"api": {"pydantic_ai"}, "agents": {"fastapi", "starlette"}}
"""Routes stay thin (the team is the runs' to drive); agents know nothing of HTTP."""


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def upward_imports(package: Path) -> list[str]:
    """Every import that breaks the layering, as `file:line: layer -> what`."""
    broken: list[str] = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        layer = relative.parts[0].removesuffix(".py")
        if layer in COMPOSITION_ROOTS or layer == "__init__":
            continue
        assert layer in FLOOR, f"{relative}: a new layer; give it its floor here"
        for line, module in _imports(path):
            top, _, rest = module.partition(".")
            where = f"{relative}:{line}: {layer} -> {module}"
            if top in FORBIDDEN.get(layer, ()):
                broken.append(where)
            if top != "tandem" or not rest:
                continue
            target = rest.split(".")[0]
            if target == layer or (layer, target) in ALLOWED:
                continue
            if target not in FLOOR or FLOOR[target] >= FLOOR[layer]:
                broken.append(where)
    return broken


def test_no_import_goes_up_a_layer() -> None:
    assert upward_imports(PACKAGE) == []


@pytest.mark.parametrize(
    ("file", "line", "broken"),
    [
        ("runs/bad.py", "from tandem.services import projects", "runs/bad.py:1: runs -> tandem.services"),
        ("workspace/bad.py", "import tandem.runs.store", "workspace/bad.py:1: workspace -> tandem.runs.store"),
        ("sandbox/bad.py", "from tandem.agents import tools", "sandbox/bad.py:1: sandbox -> tandem.agents"),
        ("sandbox/bad.py", "from tandem.workspace import files", "sandbox/bad.py:1: sandbox -> tandem.workspace"),
        ("persistence/bad.py", "from tandem.app import create_app", "persistence/bad.py:1: persistence -> tandem.app"),
        ("events.py", "from tandem.persistence import models", "events.py:1: events -> tandem.persistence"),
        ("api/bad.py", "def f():\n    import pydantic_ai", "api/bad.py:2: api -> pydantic_ai"),
        ("agents/bad.py", "from fastapi import Request", "agents/bad.py:1: agents -> fastapi"),
    ],
)
def test_an_import_up_a_layer_is_found(tmp_path: Path, file: str, line: str, broken: str) -> None:
    (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / file).write_text(line + "\n")
    assert upward_imports(tmp_path) == [broken]
