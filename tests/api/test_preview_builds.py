"""TypeScript and JSX pages in the preview: bundled with esbuild in the command sandbox, errors shown."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tandem.services.bundles import BUNDLES
from tests.api.conftest import previewed
from tests.support import Server


@pytest.fixture
async def react_app(client: httpx.AsyncClient) -> tuple[int, str]:
    """A React + TypeScript project (the template) and its preview link."""
    return await previewed(client, "react-vite")


def _bundle_link(page: str) -> str:
    found = re.search(rf'<script type="module" src="({BUNDLES}/[0-9a-f]+/src/main\.js)"></script>', page)
    assert found, page
    return found.group(1)


async def test_a_react_page_gets_its_bundle_with_react_and_its_styles(react_app: tuple[int, str]) -> None:
    _, url = react_app
    base = url.removesuffix("index.html")
    async with httpx.AsyncClient() as preview:
        page = (await preview.get(url)).text
        assert 'src="/src/main.tsx"' not in page
        script = await preview.get(base + _bundle_link(page))
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "Hello from React + Vite" in script.text, "the project's own TSX, compiled"
        assert 'exports.version = "19.' in script.text, "React comes from the toolchain, bundled in"
        assert "useState" in script.text
        styles = re.search(rf'<link rel="stylesheet" href="({BUNDLES}/[0-9a-f]+/src/main\.css)">', page)
        assert styles, "the CSS the components import is linked from the page"
        assert ".app" in (await preview.get(base + styles.group(1))).text
        assert (await preview.get(url)).text == page, "nothing changed: the same bundle"


async def test_an_edit_gets_a_new_bundle(react_app: tuple[int, str], client: httpx.AsyncClient) -> None:
    project_id, url = react_app
    async with httpx.AsyncClient() as preview:
        before = _bundle_link((await preview.get(url)).text)
        app = (await client.get(f"/projects/{project_id}/files/src/App.tsx")).json()["content"]
        edited = app.replace("Hello from React + Vite", "Hello again")
        assert (await client.put(f"/projects/{project_id}/files/src/App.tsx", json={"content": edited})).is_success
        after = _bundle_link((await preview.get(url)).text)
        assert after != before
        assert "Hello again" in (await preview.get(url.removesuffix("index.html") + after)).text


async def test_a_build_error_is_shown_in_the_page_and_reported(
    react_app: tuple[int, str], client: httpx.AsyncClient
) -> None:
    project_id, url = react_app
    broken = "export default function App() { return <div>unclosed </span> }\n"
    assert (await client.put(f"/projects/{project_id}/files/src/App.tsx", json={"content": broken})).is_success
    async with httpx.AsyncClient() as preview:
        page = (await preview.get(url)).text
    assert "Build failed:" in page
    assert "src/App.tsx" in page, "esbuild's message names the file"
    assert "console.error(" in page, "the bridge hands console errors to the app (Fix this error)"
    assert '<script type="module"' not in page


async def test_a_build_reads_nothing_of_the_server_outside_the_project(
    react_app: tuple[int, str], client: httpx.AsyncClient, scripted_server: Server
) -> None:
    project_id, url = react_app
    secret = scripted_server.data_dir / "server-secret.txt"
    secret.write_text("the server's own secret")
    hostile = f"import leaked from {str(secret)!r}\nexport default function App() {{ return leaked }}\n"
    assert (await client.put(f"/projects/{project_id}/files/src/App.tsx", json={"content": hostile})).is_success
    async with httpx.AsyncClient() as preview:
        page = (await preview.get(url)).text
    assert "Build failed:" in page
    assert "Could not resolve" in page, "the server's folders are not in the build's sandbox"
    assert "the server's own secret" not in page


async def test_one_build_serves_many_simultaneous_readers(react_app: tuple[int, str]) -> None:
    _, url = react_app
    async with httpx.AsyncClient() as preview:
        pages = await asyncio.gather(*(preview.get(url) for _ in range(6)))
    assert len({_bundle_link(page.text) for page in pages}) == 1


async def test_a_bundle_of_another_project_or_a_made_up_one_is_not_served(
    react_app: tuple[int, str], client: httpx.AsyncClient
) -> None:
    _, url = react_app
    other = (await client.post("/projects", json={"name": "other", "template": "react-vite"})).json()
    other_url = (await client.post(f"/projects/{other['id']}/preview")).json()["url"]
    async with httpx.AsyncClient() as preview:
        link = _bundle_link((await preview.get(url)).text)
        own = await preview.get(url.removesuffix("index.html") + link)
        assert own.status_code == 200
        across = await preview.get(other_url.removesuffix("index.html") + link)
        assert across.status_code == 404
        made_up = await preview.get(url.removesuffix("index.html") + f"{BUNDLES}/0123456789abcdef01234567/src/main.js")
        assert made_up.status_code == 404
        assert "no longer kept: reload the page" in made_up.text


async def test_a_bundle_is_served_by_a_process_that_did_not_build_it(tmp_path: Path) -> None:
    """`serve --workers N`: the page comes from one worker, its bundle may be asked of another.
    Here the same server restarted: nothing it built before is kept."""
    server = Server(data_dir=tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
            _, url = await previewed(client, "react-vite")
        async with httpx.AsyncClient(timeout=60) as preview:
            link = _bundle_link((await preview.get(url)).text)
            server.stop()
            server.start()
            script = await preview.get(url.removesuffix("index.html") + link)
    finally:
        server.stop()
    assert script.status_code == 200, script.text
    assert "Hello from React + Vite" in script.text
