"""`GET /projects` pages (newest first, `X-Total-Count`) and shows which projects have an active run."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.test_bad_input import assert_error
from tests.support import read_events

DEFAULT_LIMIT = 100


async def create(client: httpx.AsyncClient, count: int) -> list[int]:
    ids = []
    for _ in range(count):  # one at a time: the list's order is the order of creation
        response = await client.post("/projects", json={"name": "listed", "template": "blank"})
        ids.append(int(response.json()["id"]))
    return ids


async def test_pages_walk_every_project_once_newest_first(client: httpx.AsyncClient) -> None:
    mine = await create(client, 5)
    first = await client.get("/projects", params={"limit": 2})
    assert [p["id"] for p in first.json()] == mine[::-1][:2]
    total = int(first.headers["x-total-count"])
    seen: list[int] = []
    for offset in range(0, total + 2, 2):
        page = await client.get("/projects", params={"limit": 2, "offset": offset})
        assert page.headers["x-total-count"] == str(total)
        assert len(page.json()) == min(2, max(total - offset, 0))
        seen += [p["id"] for p in page.json()]
    assert len(seen) == len(set(seen)) == total
    assert seen[:5] == mine[::-1]


async def test_the_default_page_is_the_first_hundred(client: httpx.AsyncClient) -> None:
    total = int((await client.get("/projects", params={"limit": 1})).headers["x-total-count"])
    await create(client, max(DEFAULT_LIMIT + 1 - total, 0))
    default = await client.get("/projects")
    assert len(default.json()) == DEFAULT_LIMIT
    assert int(default.headers["x-total-count"]) > DEFAULT_LIMIT
    explicit = await client.get("/projects", params={"limit": DEFAULT_LIMIT, "offset": 0})
    assert default.json() == explicit.json()


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "many"}])
async def test_out_of_range_paging_is_422(client: httpx.AsyncClient, params: dict[str, object]) -> None:
    await assert_error(await client.get("/projects", params=params), 422, "invalid_input")


async def test_the_list_shows_the_active_run(client: httpx.AsyncClient) -> None:
    busy, idle = await create(client, 2)
    async with client.stream("POST", f"/chat/{busy}/stream", json={"message": "list me"}) as response:
        events = []
        async for event in read_events(response):
            events.append(event)
            if len(events) == 1:
                page = (await client.get("/projects", params={"limit": 2})).json()
                assert {p["id"]: p["active_run_id"] for p in page} == {busy: event.data["run_id"], idle: None}
    assert events[-1].type == "complete"
    for _ in range(100):
        listed = {p["id"]: p["active_run_id"] for p in (await client.get("/projects", params={"limit": 2})).json()}
        if listed[busy] is None:
            break
        await asyncio.sleep(0.05)
    assert listed == {busy: None, idle: None}
