"""Bad input gets a clear JSON error, the right status, and changes nothing."""

from __future__ import annotations

import httpx
import pytest

UNSAFE_PATHS = ["../x", "/etc/passwd", "a/../../x", "a\\..\\x", "a\x00b", "%2e%2e/x"]


async def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    assert body["message"]
    assert "Traceback" not in response.text


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for method, url in [
        ("GET", "/projects/999999"),
        ("GET", "/projects/999999/files"),
        ("GET", "/runs/no-such-run"),
        ("GET", "/runs/no-such-run/stream"),
        ("POST", "/runs/no-such-run/cancel"),
        ("GET", "/sessions/999999/messages"),
        ("GET", "/changes/999999"),
    ]:
        await assert_error(await client.request(method, url), 404, "not_found")
    await assert_error(await client.post("/chat/999999/stream", json={"message": "hi"}), 404, "not_found")
    await assert_error(await client.post("/chat/999999", json={"message": "hi"}), 404, "not_found")


async def test_unknown_file_and_session_are_404(client: httpx.AsyncClient, project_id: int) -> None:
    await assert_error(await client.get(f"/projects/{project_id}/files/nope.txt"), 404, "not_found")
    await assert_error(
        await client.post(f"/chat/{project_id}/stream", json={"message": "hi", "session_id": 999999}),
        404,
        "not_found",
    )


@pytest.mark.parametrize("message", ["", "   ", "\n\t"])
async def test_empty_message_is_422(client: httpx.AsyncClient, project_id: int, message: str) -> None:
    await assert_error(await client.post(f"/chat/{project_id}/stream", json={"message": message}), 422, "invalid_input")
    sessions = (await client.get(f"/projects/{project_id}/sessions")).json()
    assert sessions == [], "nothing was created"


async def test_malformed_json_is_422(client: httpx.AsyncClient, project_id: int) -> None:
    response = await client.post(
        f"/chat/{project_id}/stream", content=b'{"message": ', headers={"content-type": "application/json"}
    )
    await assert_error(response, 422, "invalid_input")
    await assert_error(await client.post(f"/chat/{project_id}", json={"session_id": 1}), 422, "invalid_input")
    await assert_error(await client.post("/projects", json={"name": "x", "template": "nope"}), 422, "invalid_input")


async def test_oversized_message_and_file_are_413(client: httpx.AsyncClient, project_id: int) -> None:
    await assert_error(
        await client.post(f"/chat/{project_id}/stream", json={"message": "x" * 100_001}), 413, "too_large"
    )
    await assert_error(
        await client.put(f"/projects/{project_id}/files/big.txt", json={"content": "x" * 1_000_001}), 413, "too_large"
    )
    huge = await client.put(f"/projects/{project_id}/files/huge.txt", json={"content": "x" * 3_000_000})
    await assert_error(huge, 413, "too_large")
    paths = [f["path"] for f in (await client.get(f"/projects/{project_id}/files")).json()]
    assert "big.txt" not in paths
    assert "huge.txt" not in paths


async def raw_request(client: httpx.AsyncClient, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send the path bytes as they are: HTTP clients normalise `..` away, attackers do not."""
    import asyncio

    url = httpx.URL(str(client.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        f"{method} {url.path}{path} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    response = await reader.read()
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("path", ["../x", "a/../../x", "%2e%2e/x", "%2E%2E/%2e%2e/etc/passwd", "a%5c..%5cx", "a%00b"])
async def test_traversal_paths_are_refused_by_the_files_api(
    client: httpx.AsyncClient, project_id: int, path: str
) -> None:
    before = (await client.get(f"/projects/{project_id}/files")).json()
    for method, body in [("GET", b""), ("PUT", b'{"content": "pwned"}'), ("DELETE", b"")]:
        status, payload = await raw_request(client, method, f"/projects/{project_id}/files/{path}", body)
        # 422 from the path check; 404/405 where the server already resolved the dot segments to
        # some other URL. Never a 2xx, never a file outside the project.
        assert status in (404, 405, 422), (method, path, status, payload)
        assert b'"code"' in payload
    assert (await client.get(f"/projects/{project_id}/files")).json() == before


@pytest.mark.parametrize("path", UNSAFE_PATHS)
async def test_unsafe_rename_targets_are_refused(client: httpx.AsyncClient, project_id: int, path: str) -> None:
    response = await client.patch(f"/projects/{project_id}/files/index.html", json={"path": path})
    await assert_error(response, 422, "invalid_input")
    assert (await client.get(f"/projects/{project_id}/files/index.html")).status_code == 200


async def test_unknown_route_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    await assert_error(await client.get("/no-such-endpoint"), 404, "not_found")
    response = await client.delete("/templates")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
