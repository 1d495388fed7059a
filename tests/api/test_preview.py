"""The live preview: a project's pages on an origin of their own, where a page the model wrote can
neither reach the API nor anyone's sign-in."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tandem.api.preview import BRIDGE
from tests.api.conftest import previewed
from tests.conftest import ServerFactory
from tests.support import Server


@pytest.fixture
async def site(client: httpx.AsyncClient) -> tuple[int, str]:
    """A static-site project and its preview link."""
    return await previewed(client, "static-site")


async def test_the_pages_are_served_on_the_preview_origin_with_their_types(
    site: tuple[int, str], scripted_server: Server, client: httpx.AsyncClient
) -> None:
    project_id, url = site
    assert url.startswith(f"{scripted_server.preview_url}/")
    assert url.endswith("/index.html")
    base = url.removesuffix("index.html")
    async with httpx.AsyncClient() as preview:
        page = await preview.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        source = (await client.get(f"/projects/{project_id}/files/index.html")).json()["content"]
        assert page.text.startswith("<!doctype html><script>(() => {\n  // Tandem's preview bridge")
        assert page.text == source.replace("<!doctype html>", f"<!doctype html>{BRIDGE.decode()}", 1)
        assert (await preview.get(base)).text == page.text, "a folder serves its index.html"
        style = await preview.get(base + "style.css")
        assert style.headers["content-type"] == "text/css; charset=utf-8"
        assert "preview bridge" not in style.text, "only pages get the bridge"
        assert (await preview.get(base + "script.js")).headers["content-type"] == "text/javascript; charset=utf-8"
        missing = await preview.get(base + "missing.html")
        assert missing.status_code == 404
        assert "the project has no file &#x27;missing.html&#x27;" in missing.text

        edited = await client.put(f"/projects/{project_id}/files/index.html", json={"content": "<p>v2</p>"})
        assert edited.status_code == 200
        assert (await preview.get(url)).text == BRIDGE.decode() + "<p>v2</p>", "read at each request: edits show"


async def test_a_page_is_sandboxed_and_can_only_talk_to_its_own_origin(site: tuple[int, str]) -> None:
    async with httpx.AsyncClient() as preview:
        page = await preview.get(site[1])
    policy = page.headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts "), "an opaque origin even when opened outside the app"
    assert "allow-same-origin" not in policy
    assert "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in page.headers


async def test_the_app_may_frame_only_the_preview_origin(scripted_server: Server, client: httpx.AsyncClient) -> None:
    policy = (await client.get("/health")).headers["content-security-policy"]
    assert policy.endswith(f"; frame-src {scripted_server.preview_url}")
    assert "frame-ancestors 'none'" in policy, "the app itself is still never framed"


async def test_the_preview_origin_answers_no_api_even_with_the_apps_credentials(
    site: tuple[int, str], scripted_server: Server
) -> None:
    cookies = {"tandem_session": "whatever"}
    async with httpx.AsyncClient(base_url=scripted_server.preview_url, cookies=cookies) as preview:
        for method, path in [("GET", "/api/v1/projects"), ("POST", "/api/v1/projects"), ("GET", "/")]:
            response = await preview.request(method, path)
            assert response.status_code in {403, 404, 405}, (method, path)
            assert "application/json" not in response.headers.get("content-type", "")


async def test_a_forged_or_tampered_link_opens_nothing(site: tuple[int, str]) -> None:
    url = site[1]
    token = url.split("/")[-2]
    tampered = url.replace(token, token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:])
    async with httpx.AsyncClient() as preview:
        for bad in (tampered, url.replace(token, "forged"), url.replace(token, "%FF%FE")):
            response = await preview.get(bad)
            assert response.status_code == 403, bad
            assert "not valid or has expired" in response.text


async def test_traversal_stays_in_the_project(site: tuple[int, str]) -> None:
    base = site[1].removesuffix("index.html")
    async with httpx.AsyncClient() as preview:
        for path in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd", "a/%2e%2e/%2e%2e/x"):
            response = await preview.get(base + path)
            assert response.status_code == 404, path
            assert "root:" not in response.text


async def test_deleting_the_project_ends_its_previews(site: tuple[int, str], client: httpx.AsyncClient) -> None:
    project_id, url = site
    assert (await client.delete(f"/projects/{project_id}")).status_code == 204
    async with httpx.AsyncClient() as preview:
        response = await preview.get(url)
    assert response.status_code == 404
    assert f"project {project_id} does not exist" in response.text


async def test_a_link_expires(start_server: ServerFactory) -> None:
    server = start_server(TANDEM_MODEL="scripted", TANDEM_PREVIEW_MINUTES="0.001")  # 0.06 s
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1") as client, httpx.AsyncClient() as preview:
        project = (await client.post("/projects", json={"name": "p", "template": "static-site"})).json()
        url = (await client.post(f"/projects/{project['id']}/preview")).json()["url"]
        await asyncio.sleep(2.1)  # links carry whole seconds
        assert (await preview.get(url)).status_code == 403


async def test_previews_can_be_turned_off(start_server: ServerFactory) -> None:
    server = start_server(TANDEM_MODEL="scripted", TANDEM_PREVIEW_PORT="0")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1") as client:
        project = (await client.post("/projects", json={"name": "p", "template": "static-site"})).json()
        response = await client.post(f"/projects/{project['id']}/preview")
        assert response.status_code == 503
        assert response.json() == {
            "code": "unavailable",
            "message": "previews are off on this server (TANDEM_PREVIEW_PORT=0)",
        }
        assert "frame-src" not in response.headers["content-security-policy"]
