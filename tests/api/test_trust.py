"""Who may call: DNS rebinding (a foreign `Host`) and cross-origin state changes are refused; every
response carries the security headers. Real server, raw HTTP headers as an attacker's browser sends."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.api.test_imports import imported, zip_bytes
from tests.support import Server, read_events

STATE_CHANGING = ("post", "put", "patch", "delete")
FOREIGN_ORIGINS = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.localhost"},
]


@pytest.fixture
async def finished_run(client: httpx.AsyncClient, project_id: int) -> dict[str, Any]:
    """A completed run with a code change: real ids for every path parameter."""
    async with client.stream("POST", f"/chat/{project_id}/stream", json={"message": "trust"}) as response:
        events = [event async for event in read_events(response)]
    complete = events[-1].data
    assert events[-1].type == "complete"
    upload = await client.post(
        "/projects",
        params={"name": "imported"},
        content=zip_bytes({"a.txt": b"a\n"}),
        headers={"Content-Type": "application/zip"},
    )
    job = await imported(client, upload)
    first = (await client.get(f"/projects/{project_id}/history")).json()[-1]
    return {
        "project_id": project_id,
        "run_id": events[0].data["run_id"],
        "session_id": complete["session_id"],
        "change_id": complete["code_changes"][0]["id"],
        "path": complete["code_changes"][0]["path"],
        "token_id": 1,
        "user_name": "someone",
        "import_id": job["id"],
        "sha": first["sha"],
    }


async def _snapshot(client: httpx.AsyncClient, ids: dict[str, Any]) -> dict[str, object]:
    """Everything a forged request could change."""
    project = ids["project_id"]
    return {
        "projects": (await client.get("/projects")).json(),
        "files": (await client.get(f"/projects/{project}/files")).json(),
        "file": (await client.get(f"/projects/{project}/files/{ids['path']}")).json(),
        "sessions": (await client.get(f"/projects/{project}/sessions")).json(),
        "messages": (await client.get(f"/sessions/{ids['session_id']}/messages")).json(),
        "run": (await client.get(f"/runs/{ids['run_id']}")).json(),
        "import": (await client.get(f"/imports/{ids['import_id']}")).json(),
        "history": (await client.get(f"/projects/{project}/history")).json(),
    }


def _state_changing_routes(openapi: dict[str, Any], ids: dict[str, Any]) -> list[tuple[str, str]]:
    routes = []
    for template, operations in openapi["paths"].items():
        names = re.findall(r"{(\w+)}", template)
        missing = [name for name in names if name not in ids]
        assert not missing, f"{template}: give the test a real value for {missing}"
        url = template.removeprefix("/api/v1").format(**ids)
        routes += [(method.upper(), url) for method in operations if method in STATE_CHANGING]
    return routes


async def test_cross_origin_requests_change_nothing_on_any_route(
    client: httpx.AsyncClient, finished_run: dict[str, Any]
) -> None:
    routes = _state_changing_routes((await client.get("/openapi.json")).json(), finished_run)
    assert len(routes) >= 10, routes
    before = await _snapshot(client, finished_run)
    for method, url in routes:
        for headers in FOREIGN_ORIGINS:
            # Body-less, as a page's `fetch(..., {mode: "no-cors"})` or form can send without a preflight.
            response = await client.request(method, url, headers=headers)
            assert response.status_code == 403, (method, url, headers, response.text)
            assert response.json()["code"] == "cross_origin"
    assert await _snapshot(client, finished_run) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},  # not a browser: curl, scripts, the CLI
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:{port}"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar, a bookmark
        {"Origin": "http://127.0.0.1:{port}"},
        {"Origin": "http://localhost:{port}", "Host": "localhost:{port}"},
    ],
)
async def test_same_origin_and_non_browser_requests_may_change_state(
    client: httpx.AsyncClient, scripted_server: Server, headers: dict[str, str]
) -> None:
    port = scripted_server.port
    response = await client.post(
        "/projects",
        json={"name": "mine", "template": "blank"},
        headers={name: value.format(port=port) for name, value in headers.items()},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/projects"),
        ("GET", "/api/v1/projects/1/files"),
        ("GET", "/api/v1/runs/x/stream"),
        ("POST", "/api/v1/projects"),
        ("GET", "/"),
        ("GET", "/api/v1/openapi.json"),
    ],
)
@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "localhostx"])
async def test_a_foreign_host_name_is_refused_before_anything_runs(
    client: httpx.AsyncClient, scripted_server: Server, method: str, path: str, host: str
) -> None:
    before = (await client.get("/projects")).json()
    # What a page on a rebinding name sends: same-origin for the browser, only `Host` tells.
    headers = {"Host": host.format(port=scripted_server.port), "Sec-Fetch-Site": "same-origin"}
    async with httpx.AsyncClient(base_url=scripted_server.url, timeout=30) as raw:
        response = await raw.request(method, path, headers=headers, json={"name": "x", "template": "blank"})
    assert response.status_code == 421, response.text
    assert response.json()["code"] == "host_not_allowed"
    assert "TANDEM_ALLOWED_HOSTS" in response.json()["message"]
    assert (await client.get("/projects")).json() == before


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LOCALHOST"])
async def test_loopback_names_are_answered(scripted_server: Server, host: str) -> None:
    async with httpx.AsyncClient(base_url=scripted_server.url, timeout=30) as raw:
        response = await raw.get("/api/v1/health", headers={"Host": host.format(port=scripted_server.port)})
    assert response.status_code == 200, response.text


def _assert_security_headers(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["img-src"] == "'self' data:", "no remote image can be loaded by the page"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, scripted_server: Server, finished_run: dict[str, Any]
) -> None:
    _assert_security_headers(await client.get("/projects"))
    _assert_security_headers(await client.get("/projects/999999"))
    async with client.stream("GET", f"/runs/{finished_run['run_id']}/stream") as stream:
        _assert_security_headers(stream)
    async with httpx.AsyncClient(base_url=scripted_server.url, timeout=30) as raw:
        _assert_security_headers(await raw.get("/", headers={"Host": "evil.example"}))


async def test_extra_host_names_can_be_allowed(start_server: Any) -> None:
    server = start_server(TANDEM_ALLOWED_HOSTS="127.0.0.1,tandem.example.com, 10.0.0.5")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as raw:
        allowed = await raw.get("/api/v1/health", headers={"Host": "tandem.example.com:8443"})
        by_address = await raw.get("/api/v1/health", headers={"Host": "10.0.0.5"})
        localhost = await raw.get("/api/v1/health", headers={"Host": "localhost"})
    assert (allowed.status_code, by_address.status_code) == (200, 200)
    assert localhost.status_code == 421, "the list replaces the loopback default"
