"""The layers go one way: api → services → runs → agents → workspace/sandbox → persistence (the
agents' tools use the files and the sandbox), read from every import in `src/tandem`, including
those inside functions. Routes go through the services: nothing below them but a few names. Within
the services, the modules import one way too: no two lean on each other."""

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
API_REACHES_PAST_SERVICES = {
    # The columns' bounds, which bound every integer the API takes.
    "tandem.persistence.models": {"INT_MAX", "BIGINT_MAX"},
    # What the file routes drive, handed out by `services.projects.files` once access is checked.
    "tandem.workspace.files": {"ProjectFiles"},
}


def _imports(path: Path) -> list[tuple[int, str, set[str]]]:
    """Line, module and the names taken from it (none for `import module`)."""
    found: list[tuple[int, str, set[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, set()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.append((node.lineno, node.module, {alias.name for alias in node.names}))
    return found


def broken_imports(package: Path) -> list[str]:
    """Every import that breaks the layering, as `file:line: layer -> what`."""
    broken: list[str] = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        layer = relative.parts[0].removesuffix(".py")
        if layer in COMPOSITION_ROOTS or layer == "__init__":
            continue
        assert layer in FLOOR, f"{relative}: a new layer; give it its floor here"
        for line, module, names in _imports(path):
            top, _, rest = module.partition(".")
            where = f"{relative}:{line}: {layer} -> {module}"
            if top in FORBIDDEN.get(layer, ()):
                broken.append(where)
            if top != "tandem" or not rest:
                continue
            target = rest.split(".")[0]
            if target == layer or (layer, target) in ALLOWED:
                continue
            climbs = target not in FLOOR or FLOOR[target] >= FLOOR[layer]
            passes_by_services = (
                layer == "api"
                and 0 < FLOOR.get(target, 0) < FLOOR["services"]
                and not (names and names <= API_REACHES_PAST_SERVICES.get(module, set()))
            )
            if climbs or passes_by_services:
                broken.append(where)
    return broken


def import_cycles(package: Path, layer: str) -> list[list[str]]:
    """The modules of `layer` that import each other, round and round (each cycle from its least name)."""
    modules = {path.stem for path in (package / layer).glob("*.py")} - {"__init__"}
    within = f"tandem.{layer}"
    imported: dict[str, set[str]] = {}
    for module in modules:
        imported[module] = set()
        for _, name, names in _imports(package / layer / f"{module}.py"):
            if name == within:
                imported[module] |= names & modules
            elif name.startswith(within + "."):
                imported[module].add(name.split(".")[2])
    cycles: list[list[str]] = []

    def follow(path: list[str]) -> None:
        for module in sorted(imported[path[-1]]):
            if module == path[0]:
                cycles.append(path)
            elif module > path[0] and module not in path:
                follow([*path, module])

    for module in sorted(modules):
        follow([module])
    return cycles


def test_no_import_breaks_the_layers() -> None:
    assert broken_imports(PACKAGE) == []


def test_no_services_import_each_other() -> None:
    assert import_cycles(PACKAGE, "services") == []


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        ({"a": "from tandem.services import b", "b": "from tandem.services.a import f"}, ["a", "b"]),
        ({"a": "import tandem.services.b", "b": "if TYPE_CHECKING:\n    from tandem.services.a import T"}, ["a", "b"]),
        (
            {"a": "from tandem.services import b, WINDOW", "b": "def f():\n    from tandem.services import a"},
            ["a", "b"],
        ),
        (
            {"c": "from tandem.services import a", "a": "import tandem.services.b", "b": "import tandem.services.c"},
            ["a", "b", "c"],
        ),
    ],
)
def test_services_importing_each_other_are_found(tmp_path: Path, files: dict[str, str], cycle: list[str]) -> None:
    (tmp_path / "services").mkdir()
    # `d` imports from the cycle without being part of it.
    for module, line in {**files, "d": "from tandem.services import a, b"}.items():
        (tmp_path / "services" / f"{module}.py").write_text(line + "\n")
    assert import_cycles(tmp_path, "services") == [cycle]


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
        ("api/bad.py", "from tandem.persistence.models import Run", "api/bad.py:1: api -> tandem.persistence.models"),
        ("api/bad.py", "from tandem.workspace import changes", "api/bad.py:1: api -> tandem.workspace"),
        ("api/bad.py", "from tandem.runs.manager import RunManager", "api/bad.py:1: api -> tandem.runs.manager"),
    ],
)
def test_an_import_breaking_them_is_found(tmp_path: Path, file: str, line: str, broken: str) -> None:
    (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / file).write_text(line + "\n")
    assert broken_imports(tmp_path) == [broken]
