"""Bundling a project's TypeScript and JSX pages for the preview: esbuild, run in the command sandbox.

A page whose module script is a `.ts`, `.tsx` or `.jsx` file (a Vite project's `index.html`) cannot be
served as it is: browsers run neither TypeScript nor JSX nor bare `import 'react'`. Tandem bundles
each such entry with esbuild, inside the sandbox (the project's code decides what esbuild reads), and
the page gets the bundles instead. Why esbuild in the sandbox and not esbuild-wasm in the browser,
measured on the React template (`bench/bundles.py`, bench/README.md): the native build takes about a
fifth of a second; the wasm one needed 7–9 s for its first build and 0.6–1 s after, on top of a 10 MB
download. `react` and `react-dom` come from Tandem's own toolchain (`toolchain/node_modules`, installed
by `make install`), since a sandboxed command has no network to install a project's packages.

Bundles are kept per project and version of its files (one aggregate query tells the version), so a
reload with nothing changed costs no build; a build error is shown in the page and reported to the
app, where "Fix this error" hands it to the agents.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import shlex
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.persistence.models import ProjectFile
from tandem.sandbox.command import Sandbox, SandboxStatus
from tandem.workspace.archive import export_project

BUNDLES = "__bundle__"
"""The folder of a preview link's path under which bundles are served (no project path starts with it)."""
_KEPT = 32
_SCRIPT = re.compile(rb"<script\b([^>]*)>\s*</script>", re.IGNORECASE)
_MODULE = re.compile(rb"""\btype\s*=\s*["']?module\b""", re.IGNORECASE)
_SOURCE = re.compile(rb"""\bsrc\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_BUILT = (".ts", ".tsx", ".jsx", ".mts")
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Toolchain:
    """esbuild and the packages bundles may import, in a folder commands can read."""

    node_modules: Path
    esbuild: Path

    @classmethod
    def find(cls, node_modules: Path) -> Toolchain | None:
        binaries = sorted(node_modules.glob("@esbuild/*/bin/esbuild"))
        if not binaries or not (node_modules / "react" / "package.json").is_file():
            return None
        return cls(node_modules=node_modules, esbuild=binaries[0])


@dataclass(frozen=True, kw_only=True)
class Bundle:
    key: str
    project_id: int
    files: dict[str, bytes]
    """Output path (e.g. `src/main.js`) → content."""
    error: str | None


def entries(page: bytes, page_path: str) -> list[str]:
    """The project paths of the page's module scripts that need bundling."""
    found: list[str] = []
    for script in _SCRIPT.finditer(page):
        attributes = script.group(1)
        source = _SOURCE.search(attributes)
        if _MODULE.search(attributes) and source and source.group(1).decode().endswith(_BUILT):
            found.append(_resolve(source.group(1).decode(), page_path))
    return found


def _resolve(source: str, page_path: str) -> str:
    """A script's `src` as a project path: `/src/main.tsx` from the project's root, else from the page."""
    base = PurePosixPath("/") if source.startswith("/") else PurePosixPath("/", page_path).parent
    parts: list[str] = []
    for part in (base / source.split("?")[0]).parts[1:]:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _output(entry: str, extension: str) -> str:
    return str(PurePosixPath(entry).with_suffix(extension))


def with_bundles(page: bytes, page_path: str, bundle: Bundle, prefix: str) -> bytes:
    """The page loading `bundle` (served under `prefix`) instead of its sources; with the build's error
    shown and reported (the preview bridge passes `console.error` to the app) when it failed."""
    if bundle.error is not None:
        message = json.dumps(f"Build failed: {bundle.error}").replace("<", "\\u003c").encode()
        notice = (
            b'<pre style="white-space:pre-wrap;color:#b00020;font:13px monospace;padding:1em">'
            + html.escape(f"Build failed:\n{bundle.error}").encode()
            + b"</pre><script>console.error("
            + message
            + b")</script>"
        )
        return _SCRIPT.sub(lambda script: notice if _is_entry(script.group(1)) else script.group(0), page, count=1)

    styles = b"".join(
        f'<link rel="stylesheet" href="{prefix}/{name}">'.encode()
        for name in sorted(bundle.files)
        if name.endswith(".css")
    )

    def replace(script: re.Match[bytes]) -> bytes:
        if not _is_entry(script.group(1)):
            return script.group(0)
        source = _SOURCE.search(script.group(1))
        assert source is not None
        built = _output(_resolve(source.group(1).decode(), page_path), ".js")
        return f'<script type="module" src="{prefix}/{built}"></script>'.encode()

    page = _SCRIPT.sub(replace, page)
    head = _HEAD_END.search(page)
    return page[: head.start()] + styles + page[head.start() :] if head else styles + page


def _is_entry(attributes: bytes) -> bool:
    source = _SOURCE.search(attributes)
    return bool(_MODULE.search(attributes) and source and source.group(1).decode().endswith(_BUILT))


class Bundles:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        toolchain: Toolchain | None,
        sandbox: Callable[[], tuple[Sandbox | None, SandboxStatus]],
    ) -> None:
        self._sessions = sessions
        self._toolchain = toolchain
        self._sandbox = sandbox
        self._kept: OrderedDict[str, Bundle] = OrderedDict()
        self._building: dict[str, asyncio.Future[Bundle]] = {}

    async def bundle(self, project_id: int, entry_points: list[str]) -> Bundle:
        """The project's current files bundled from `entry_points`: kept, or built now (once, however many
        ask at the same time)."""
        key = await self._version(project_id, entry_points)
        if (kept := self._kept.get(key)) is not None:
            self._kept.move_to_end(key)
            return kept
        if (building := self._building.get(key)) is not None:
            return await asyncio.shield(building)
        future: asyncio.Future[Bundle] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            bundle = await self._build(project_id, entry_points, key)
            future.set_result(bundle)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters get it; no "never retrieved" warning without them
            raise
        finally:
            del self._building[key]
        self._kept[key] = bundle
        while len(self._kept) > _KEPT:
            self._kept.popitem(last=False)
        return bundle

    async def kept(self, project_id: int, key: str, name: str) -> Bundle | None:
        """The bundle `key` with output `name`: kept here, or built again if the project's files are
        still those it was built from (another worker or process built it for the page)."""
        bundle = self._kept.get(key)
        if bundle is not None:
            return bundle if bundle.project_id == project_id else None
        # Each entry's bundle stands alone (no code splitting): `src/main.js` comes from `src/main.tsx` or so.
        stem = str(PurePosixPath(name).with_suffix(""))
        async with self._sessions() as session:
            entry = await session.scalar(
                select(ProjectFile.path)
                .where(ProjectFile.project_id == project_id, ProjectFile.path.in_([stem + e for e in _BUILT]))
                .order_by(ProjectFile.path)
                .limit(1)
            )
        if entry is None or await self._version(project_id, [entry]) != key:
            return None
        return await self.bundle(project_id, [entry])

    async def _version(self, project_id: int, entry_points: list[str]) -> str:
        # Any write moves the newest `updated_at` (or the newest id, for a new file); a delete changes the count.
        async with self._sessions() as session:
            count, newest, last_id = (
                await session.execute(
                    select(func.count(), func.max(ProjectFile.updated_at), func.max(ProjectFile.id)).where(
                        ProjectFile.project_id == project_id
                    )
                )
            ).one()
        version = f"{project_id}:{count}:{newest}:{last_id}:{','.join(entry_points)}"
        return hashlib.sha256(version.encode()).hexdigest()[:24]

    async def _build(self, project_id: int, entry_points: list[str], key: str) -> Bundle:
        sandbox, status = self._sandbox()
        if self._toolchain is None:
            return Bundle(
                key=key,
                project_id=project_id,
                files={},
                error="this page needs a build (TypeScript or JSX), and Tandem's build tools are not installed: "
                "run `make install` (it installs esbuild and React into toolchain/node_modules)",
            )
        if sandbox is None:
            return Bundle(
                key=key,
                project_id=project_id,
                files={},
                error=f"this page needs a build, which runs in the sandbox: {status.detail}",
            )
        toolchain = self._toolchain
        command = " ".join(
            [
                f"NODE_PATH={shlex.quote(str(toolchain.node_modules))}",
                shlex.quote(str(toolchain.esbuild)),
                *(shlex.quote(entry) for entry in entry_points),
                "--bundle --format=esm --outdir=/tmp/out --outbase=. --jsx=automatic --sourcemap=inline",
                "--define:process.env.NODE_ENV='\"development\"'",
                "--loader:.svg=dataurl --loader:.png=dataurl --loader:.jpg=dataurl --loader:.gif=dataurl",
                "--loader:.woff=dataurl --loader:.woff2=dataurl",
                "--log-level=error --color=false",
            ]
        )

        async def ignore(_text: str) -> None:
            pass

        with sandbox.folder() as folder:
            await export_project(self._sessions, project_id, folder / "project")
            result = await sandbox.run(command, folder=folder, on_output=ignore)
            if not result.ok:
                return Bundle(key=key, project_id=project_id, files={}, error=result.output.strip() or result.summary())
            out = folder / "tmp" / "out"
            files = await asyncio.to_thread(_read_all, out)
        return Bundle(key=key, project_id=project_id, files=files, error=None)


def _read_all(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
