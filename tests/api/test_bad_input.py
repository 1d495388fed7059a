"""Bad input gets a clear JSON error, the right status, and changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import REDIS_URL, Backend, ServerFactory
from tests.support import read_events

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
    url = httpx.URL(str(client.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    # httpx keeps `base_url` with a trailing slash: `/api/v1/` + `/projects` would hit no route.
    head = (
        f"{method} {url.path.rstrip('/')}{path} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: application/json\r\n"
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
        # The server passes the path on as sent (no dot-segment resolution): the path check refuses it.
        assert status == 422, (method, path, status, payload)
        assert json.loads(payload)["code"] == "invalid_input"
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


# Ids: every integer a route takes is bounded by its column (PostgreSQL's `integer` is 32-bit,
# SQLite's 64-bit), so an id no column can hold is a 422 on both, before any query.
OUT_OF_RANGE = [2**31, 2**63, 10**30, 0, -1]
ID_ROUTES: list[tuple[str, str, dict[str, object] | None]] = [
    ("GET", "/projects/{id}", None),
    ("PATCH", "/projects/{id}", {"name": "x"}),
    ("DELETE", "/projects/{id}", None),
    ("GET", "/projects/{id}/files", None),
    ("GET", "/projects/{id}/files/a.txt", None),
    ("PUT", "/projects/{id}/files/a.txt", {"content": "x"}),
    ("PATCH", "/projects/{id}/files/a.txt", {"path": "b.txt"}),
    ("DELETE", "/projects/{id}/files/a.txt", None),
    ("GET", "/projects/{id}/download", None),
    ("GET", "/projects/{id}/sessions", None),
    ("GET", "/projects/{id}/changes", None),
    ("POST", "/chat/{id}/stream", {"message": "hi"}),
    ("POST", "/chat/{id}", {"message": "hi"}),
    ("GET", "/sessions/{id}", None),
    ("DELETE", "/sessions/{id}", None),
    ("GET", "/sessions/{id}/messages", None),
]


@pytest.mark.parametrize(("method", "route", "body"), ID_ROUTES)
async def test_ids_no_column_holds_are_422(
    client: httpx.AsyncClient, method: str, route: str, body: dict[str, object] | None
) -> None:
    for bad in OUT_OF_RANGE:
        await assert_error(await client.request(method, route.format(id=bad), json=body), 422, "invalid_input")


@pytest.mark.parametrize("offset", [2**31, 2**63, 10**30, -1])
async def test_project_list_offsets_no_column_holds_are_422(client: httpx.AsyncClient, offset: int) -> None:
    await assert_error(await client.get("/projects", params={"offset": offset}), 422, "invalid_input")


@pytest.mark.parametrize("route", [("GET", "/changes/{id}"), ("POST", "/changes/{id}/revert")])
async def test_change_ids_are_bounded_by_their_bigint_column(client: httpx.AsyncClient, route: tuple[str, str]) -> None:
    method, url = route
    for bad in [2**63, 10**30, 0, -1]:
        await assert_error(await client.request(method, url.format(id=bad)), 422, "invalid_input")
    await assert_error(await client.request(method, url.format(id=2**31)), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "route"),
    [("GET", ""), ("GET", "/stream"), ("POST", "/cancel"), ("GET", "/changes"), ("POST", "/revert")],
)
async def test_run_ids_with_nul_are_422(client: httpx.AsyncClient, method: str, route: str) -> None:
    """PostgreSQL cannot even compare text with NUL; both backends refuse it alike."""
    await assert_error(await client.request(method, f"/runs/a%00b{route}"), 422, "invalid_input")


async def snapshot(client: httpx.AsyncClient, project_id: int) -> list[object]:
    """Everything a bad request could have changed: the project list, the project, files, sessions."""
    return [
        sorted(p["id"] for p in (await client.get("/projects")).json()),
        (await client.get(f"/projects/{project_id}")).json(),
        (await client.get(f"/projects/{project_id}/files")).json(),
        (await client.get(f"/projects/{project_id}/sessions")).json(),
    ]


@pytest.mark.parametrize("url", ["/chat/{project_id}/stream", "/chat/{project_id}"])
@pytest.mark.parametrize("session_id", [2**31, 2**63, 0])
async def test_out_of_range_session_id_in_a_chat_body_is_422(
    client: httpx.AsyncClient, project_id: int, url: str, session_id: int
) -> None:
    before = await snapshot(client, project_id)
    response = await client.post(url.format(project_id=project_id), json={"message": "hi", "session_id": session_id})
    await assert_error(response, 422, "invalid_input")
    assert await snapshot(client, project_id) == before


# Text no backend can store: NUL (PostgreSQL refuses it in text; refused on SQLite too, so both
# answer alike), lone surrogates as JSON escapes or as UTF-8-encoded bytes (not Unicode), and bytes
# that are not UTF-8 at all. Each is a 422 and changes nothing.
BAD_TEXT = {
    "nul": b'"a\\u0000b"',
    "surrogate escape": b'"a\\ud800b"',
    "low surrogate escape": b'"\\udfff"',
    "surrogate as utf-8": b'"a\xed\xa0\x80b"',
    "not utf-8": b'"a\xffb"',
}
TEXT_FIELDS: list[tuple[str, str, bytes]] = [
    ("PUT", "/projects/{project_id}/files/new.txt", b'{"content": TEXT}'),
    ("POST", "/chat/{project_id}/stream", b'{"message": TEXT}'),
    ("POST", "/chat/{project_id}", b'{"message": TEXT}'),
    ("POST", "/projects", b'{"name": TEXT}'),
    ("PATCH", "/projects/{project_id}", b'{"name": TEXT}'),
    ("PATCH", "/projects/{project_id}/files/index.html", b'{"path": TEXT}'),
]


@pytest.mark.parametrize(("method", "url", "template"), TEXT_FIELDS)
@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
async def test_text_no_backend_can_store_is_422(
    client: httpx.AsyncClient, project_id: int, method: str, url: str, template: bytes, text: bytes
) -> None:
    before = await snapshot(client, project_id)
    response = await client.request(
        method,
        url.format(project_id=project_id),
        content=template.replace(b"TEXT", text),
        headers={"content-type": "application/json"},
    )
    await assert_error(response, 422, "invalid_input")
    assert await snapshot(client, project_id) == before


@pytest.mark.parametrize("escaped", ["a%ED%A0%80b", "a%FFb", "%C0%AE%C0%AE/x"])
async def test_file_urls_whose_escapes_are_not_utf8_are_422(
    client: httpx.AsyncClient, project_id: int, escaped: str
) -> None:
    """The server would decode them to U+FFFD and store a file under a name nobody sent."""
    before = await snapshot(client, project_id)
    url = f"/projects/{project_id}/files/{escaped}"
    for method, body in [("PUT", b'{"content": "x"}'), ("GET", b""), ("PATCH", b'{"path": "y"}'), ("DELETE", b"")]:
        status, payload = await raw_request(client, method, url, body)
        assert status == 422, (method, status, payload)
        assert json.loads(payload)["code"] == "invalid_input"
    assert await snapshot(client, project_id) == before


@pytest.fixture
async def finished_run(start_server: ServerFactory, backend: Backend) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A finished run whose event log has expired, so its events come from the database."""
    server = start_server(TANDEM_MODEL="scripted", TANDEM_EVENT_RETENTION_SECONDS="0")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as client:
        project_id = (await client.post("/projects", json={"name": "expired"})).json()["id"]
        run_id = (await client.post(f"/chat/{project_id}", json={"message": "hi"})).json()["run_id"]
        if "TANDEM_EVENTS_URL" in backend:
            redis = Redis.from_url(REDIS_URL)
            for _ in range(100):  # Redis expires a stream in whole seconds
                if not await redis.exists(f"tandem:run:{run_id}"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the run's Redis stream did not expire")
            await redis.aclose()
        yield client, run_id


LAST_EVENT_IDS: dict[str, bytes] = {
    "superscript two": "²".encode("latin-1"),  # str.isdigit() is True, int() refuses it
    "arabic-indic three": "٣".encode(),
    "exponent": b"1e3",
    "5000 digits": b"9" * 5000,  # over int()'s 4300-digit limit
    "over int4": str(2**31).encode(),
    "over int8": str(2**63).encode(),
    "negative": b"-1",
}


async def test_resume_points_no_column_holds_are_422(finished_run: tuple[httpx.AsyncClient, str]) -> None:
    client, run_id = finished_run
    for name, value in LAST_EVENT_IDS.items():
        response = await client.get(f"/runs/{run_id}/stream", headers={"Last-Event-ID": value})
        assert response.status_code == 422, (name, response.text)
        assert response.json()["code"] == "invalid_input"
    for after in [2**31, 10**18, 2**63, -1]:
        await assert_error(await client.get(f"/runs/{run_id}/stream", params={"after": after}), 422, "invalid_input")
    # The largest resume point a column holds, past the end: an empty stream that ends properly.
    for resume in [{"params": {"after": 2**31 - 1}}, {"headers": {"Last-Event-ID": str(2**31 - 1)}}]:
        async with client.stream("GET", f"/runs/{run_id}/stream", **resume) as response:  # type: ignore[arg-type]
            assert response.status_code == 200
            assert [event async for event in read_events(response)] == []


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("PUT", "/projects/1", "GET, PATCH, DELETE"),
        ("DELETE", "/projects", "GET, POST"),
        ("POST", "/projects/1/files/a.txt", "GET, PUT, PATCH, DELETE"),
        ("TRACE", "/runs/r/cancel", "POST"),
    ],
)
async def test_method_not_allowed_names_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, url: str, allowed: str
) -> None:
    """RFC 9110: a 405 carries `Allow`, and it lists what the path accepts, not one route's methods."""
    response = await client.request(method, url)
    await assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed
