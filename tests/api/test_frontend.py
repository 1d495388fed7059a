"""The built frontend served at `/`: client-side routes load the app, files outside it never leak."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support import Server

INDEX = "<!doctype html><title>Tandem test app</title>"
SECRET = "secret next to the frontend dir"


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("frontend")
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "favicon.svg").write_text("<svg/>")
    (dist / "assets" / "app.js").write_text("console.log('app')")
    (root / "secret.txt").write_text(SECRET)
    server = Server(data_dir=root / "data", env={"TANDEM_FRONTEND_DIR": str(dist)}).start()
    yield server
    server.stop()


async def raw_get(server: Server, target: str) -> tuple[int, str]:
    """GET `target` exactly as written: HTTP clients normalise dot segments away, attackers do not."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode(errors="replace")


async def test_the_app_and_its_files_are_served(frontend: Server) -> None:
    assert await raw_get(frontend, "/") == (200, INDEX)
    assert await raw_get(frontend, "/projects/7/chat") == (200, INDEX), "client-side routes load the app"
    assert await raw_get(frontend, "/favicon.svg") == (200, "<svg/>")
    assert await raw_get(frontend, "/assets/app.js") == (200, "console.log('app')")
    status, body = await raw_get(frontend, "/api/v1/nope")
    assert status == 404
    assert '"code"' in body


async def test_a_method_an_api_path_lacks_is_405_beside_the_app(frontend: Server) -> None:
    # The app's catch-all answers every GET: it must not turn a POST-only endpoint's GET into a 404.
    async with httpx.AsyncClient(base_url=frontend.url, timeout=30) as client:
        response = await client.get("/api/v1/auth/login")
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "target",
    [
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/../secret.txt",
        "/a/..%2F..%2Fsecret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/%2Fetc%2Fpasswd",
        "//etc/passwd",
    ],
)
async def test_paths_out_of_the_frontend_dir_are_not_served(frontend: Server, target: str) -> None:
    status, body = await raw_get(frontend, target)
    assert SECRET not in body
    assert "root:" not in body
    assert (status, body) == (200, INDEX) or status == 404, (status, body)
