"""`Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): a retry attaches to the run its
key started, on both chat endpoints and however the retries race; a key reused for a different
request is refused with 422 and starts nothing."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.test_bad_input import assert_error
from tests.support import read_events

# Several at once, so that some reach the server together and race to create the run.
RETRIES = 4


async def stream_run(client: httpx.AsyncClient, project_id: int, body: dict[str, object], key: str) -> tuple[str, str]:
    """POST to the stream endpoint and read it to the end: the run id and the terminal event type."""
    async with client.stream(
        "POST", f"/chat/{project_id}/stream", json=body, headers={"Idempotency-Key": key}
    ) as response:
        assert response.status_code == 200, await response.aread()
        events = [event async for event in read_events(response)]
    assert response.headers["x-run-id"] == events[0].data["run_id"]
    return events[0].data["run_id"], events[-1].type


async def exchanges(client: httpx.AsyncClient, project_id: int) -> int:
    sessions = (await client.get(f"/projects/{project_id}/sessions")).json()
    counts = [len((await client.get(f"/sessions/{s['id']}/messages")).json()) for s in sessions]
    return sum(counts) // 2


async def test_concurrent_retries_on_the_stream_endpoint_attach_to_one_run(
    client: httpx.AsyncClient, project_id: int
) -> None:
    results = await asyncio.gather(
        *(stream_run(client, project_id, {"message": "at once"}, "race-stream") for _ in range(RETRIES))
    )
    assert len(set(results)) == 1, "every retry follows the same run to its end"
    assert results[0][1] == "complete"
    assert await exchanges(client, project_id) == 1


async def test_concurrent_retries_on_the_json_endpoint_attach_to_one_run(
    client: httpx.AsyncClient, project_id: int
) -> None:
    headers = {"Idempotency-Key": "race-json"}
    responses = await asyncio.gather(
        *(client.post(f"/chat/{project_id}", json={"message": "at once"}, headers=headers) for _ in range(RETRIES))
    )
    assert [r.status_code for r in responses] == [200] * RETRIES, [r.text for r in responses]
    first = responses[0]
    assert {r.json()["run_id"] for r in responses} == {first.json()["run_id"]}
    assert first.json()["status"] == "completed"
    assert await exchanges(client, project_id) == 1
    # The key names the request, whichever endpoint carries it.
    run_id, _ = await stream_run(client, project_id, {"message": "at once"}, "race-json")
    assert run_id == first.json()["run_id"]
    assert await exchanges(client, project_id) == 1


async def test_a_key_reused_with_another_request_is_422(client: httpx.AsyncClient, project_id: int) -> None:
    done = await client.post(f"/chat/{project_id}", json={"message": "original"}, headers={"Idempotency-Key": "k"})
    assert done.status_code == 200
    session_id = done.json()["session_id"]
    for body in ({"message": "changed"}, {"message": "original", "session_id": session_id}):
        for url in (f"/chat/{project_id}", f"/chat/{project_id}/stream"):
            response = await client.post(url, json=body, headers={"Idempotency-Key": "k"})
            await assert_error(response, 422, "idempotency_key_reused")
            assert done.json()["run_id"] in response.json()["message"]
    assert await exchanges(client, project_id) == 1, "a refused retry starts nothing"
    again = await client.post(f"/chat/{project_id}", json={"message": "original"}, headers={"Idempotency-Key": "k"})
    assert again.json()["run_id"] == done.json()["run_id"], "the original request still attaches"


async def test_concurrent_requests_with_one_key_and_different_bodies(
    client: httpx.AsyncClient, project_id: int
) -> None:
    headers = {"Idempotency-Key": "race-different"}
    responses = await asyncio.gather(
        client.post(f"/chat/{project_id}", json={"message": "one"}, headers=headers),
        client.post(f"/chat/{project_id}", json={"message": "two"}, headers=headers),
    )
    assert sorted(r.status_code for r in responses) == [200, 422]
    refused = next(r for r in responses if r.status_code == 422)
    await assert_error(refused, 422, "idempotency_key_reused")
    assert await exchanges(client, project_id) == 1
