"""Projects, files and code changes through the HTTP API."""

from __future__ import annotations

import io
import itertools
import zipfile
from datetime import datetime

import httpx

from tests.support import read_events


async def test_project_lifecycle(client: httpx.AsyncClient) -> None:
    templates = {t["id"] for t in (await client.get("/templates")).json()}
    assert templates == {"blank", "static-site", "react-vite"}
    created = (await client.post("/projects", json={"name": "  My   App ", "template": "react-vite"})).json()
    assert created["name"] == "My App"
    files = {f["path"] for f in (await client.get(f"/projects/{created['id']}/files")).json()}
    assert {"package.json", "index.html", "src/App.tsx", "src/main.tsx", "vite.config.ts"} <= files

    renamed = await client.patch(f"/projects/{created['id']}", json={"name": "Renamed"})
    assert renamed.json()["name"] == "Renamed"
    assert created["id"] in [p["id"] for p in (await client.get("/projects")).json()]
    assert (await client.delete(f"/projects/{created['id']}")).status_code == 204
    assert (await client.get(f"/projects/{created['id']}")).status_code == 404


async def test_file_operations_and_zip(client: httpx.AsyncClient, project_id: int) -> None:
    base = f"/projects/{project_id}/files"
    written = (await client.put(f"{base}/docs/notes é.md", json={"content": "héllo\n"})).json()
    assert written == {**written, "path": "docs/notes é.md", "size": len("héllo\n".encode())}
    assert (await client.get(f"{base}/docs/notes é.md")).json()["content"] == "héllo\n"

    moved = await client.patch(f"{base}/docs/notes é.md", json={"path": "docs/notes.md"})
    assert moved.json()["path"] == "docs/notes.md"
    clash = await client.patch(f"{base}/docs/notes.md", json={"path": "src/App.tsx"})
    assert clash.status_code == 409
    assert clash.json()["code"] == "conflict"

    archive = await client.get(f"/projects/{project_id}/download")
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        assert zipped.read("docs/notes.md").decode() == "héllo\n"
        assert "src/App.tsx" in zipped.namelist()

    assert (await client.delete(f"{base}/docs/notes.md")).status_code == 204
    assert (await client.get(f"{base}/docs/notes.md")).status_code == 404


async def run_to_end(client: httpx.AsyncClient, project_id: int, message: str) -> dict:
    async with client.stream("POST", f"/chat/{project_id}/stream", json={"message": message}) as response:
        events = [event async for event in read_events(response)]
    assert events[-1].type == "complete"
    return dict(events[-1].raw)


async def test_revert_a_change_and_a_run(client: httpx.AsyncClient, project_id: int) -> None:
    first = await run_to_end(client, project_id, "first")
    second = await run_to_end(client, project_id, "second")
    notes = f"/projects/{project_id}/files/TANDEM_NOTES.md"
    assert (await client.get(notes)).json()["content"].endswith("- first\n- second\n")

    [created] = first["data"]["code_changes"]
    refused = await client.post(f"/changes/{created['id']}/revert")
    assert refused.status_code == 409, "the file changed since: reverting would lose the second edit"
    assert refused.json()["code"] == "conflict"

    [modified] = second["data"]["code_changes"]
    assert modified["change_type"] == "modified"
    reverted = (await client.post(f"/changes/{modified['id']}/revert")).json()
    assert reverted["reverted"] is True
    assert (await client.get(notes)).json()["content"].endswith("- first\n")

    run_revert = await client.post(f"/runs/{first['run_id']}/revert")
    assert run_revert.status_code == 200
    assert [c["reverted"] for c in run_revert.json()] == [True]
    assert (await client.get(notes)).status_code == 404
    listed = (await client.get(f"/projects/{project_id}/changes")).json()
    assert {c["id"] for c in listed} == {created["id"], modified["id"]}
    assert all(c["reverted"] for c in listed)


async def test_openapi_describes_the_api_and_the_stream(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in [
        "/api/v1/chat/{project_id}/stream",
        "/api/v1/chat/{project_id}",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/stream",
        "/api/v1/runs/{run_id}/cancel",
        "/api/v1/projects/{project_id}/files/{path}",
        "/api/v1/changes/{change_id}/revert",
        "/api/v1/sessions/{session_id}/messages",
    ]:
        assert path in paths, path
    stream = paths["/api/v1/chat/{project_id}/stream"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream
    schemas = spec["components"]["schemas"]
    assert {"RunEvent", "StartEvent", "CompleteEvent", "ErrorEvent", "AgentDeltaEvent"} <= set(schemas)


async def test_reading_a_file_goes_through_the_path_check(client: httpx.AsyncClient, project_id: int) -> None:
    base = f"/projects/{project_id}/files"
    assert (await client.put(f"{base}/docs/a.txt", json={"content": "a\n"})).status_code == 200

    normalised = await client.get(f"{base}/docs//a.txt")
    assert normalised.status_code == 200, normalised.text
    assert normalised.json()["path"] == "docs/a.txt"
    for unsafe in ["docs%5Ca.txt", "%2e%2e/docs/a.txt", "docs/a.txt%00", "C:/docs/a.txt", "~/a.txt"]:
        refused = await client.get(f"{base}/{unsafe}")
        assert refused.status_code == 422, (unsafe, refused.text)
        assert refused.json()["code"] == "invalid_input"


async def test_a_second_project_of_the_same_name_is_numbered_and_a_rename_onto_one_is_refused(
    client: httpx.AsyncClient,
) -> None:
    names = [(await client.post("/projects", json={"name": "Site", "template": "blank"})).json() for _ in range(3)]
    assert [p["name"] for p in names] == ["Site", "Site (2)", "Site (3)"]
    refused = await client.patch(f"/projects/{names[2]['id']}", json={"name": " Site "})
    assert refused.status_code == 409
    assert refused.json() == {
        "code": "conflict",
        "message": "a project named 'Site' already exists; choose another name",
    }
    assert (await client.patch(f"/projects/{names[2]['id']}", json={"name": "Site (3)"})).status_code == 200
    assert (await client.patch(f"/projects/{names[2]['id']}", json={"name": "Site 100%_"})).status_code == 200
    again = (await client.post("/projects", json={"name": "Site 100%_", "template": "blank"})).json()
    assert again["name"] == "Site 100%_ (2)"


async def test_a_second_project_of_a_name_at_the_length_limit_still_fits(client: httpx.AsyncClient) -> None:
    long = "n" * 200
    first, second = [(await client.post("/projects", json={"name": long, "template": "blank"})) for _ in range(2)]
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["name"] == long
    assert second.json()["name"] == "n" * 190 + " (2)", "shortened so that the number fits (PostgreSQL: 200)"


async def test_file_edits_and_runs_move_the_project_updated_at(client: httpx.AsyncClient, project_id: int) -> None:
    async def updated() -> str:
        return str((await client.get(f"/projects/{project_id}")).json()["updated_at"])

    stamps = [await updated()]
    await client.put(f"/projects/{project_id}/files/a.txt", json={"content": "a"})
    stamps.append(await updated())
    await client.patch(f"/projects/{project_id}/files/a.txt", json={"path": "b.txt"})
    stamps.append(await updated())
    await client.delete(f"/projects/{project_id}/files/b.txt")
    stamps.append(await updated())
    await run_to_end(client, project_id, "note this")
    stamps.append(await updated())
    moments = [datetime.fromisoformat(s) for s in stamps]
    assert all(a < b for a, b in itertools.pairwise(moments)), stamps


async def test_one_change_carries_the_whole_file_before_and_after(client: httpx.AsyncClient, project_id: int) -> None:
    first = await run_to_end(client, project_id, "first")
    second = await run_to_end(client, project_id, "second")
    [created] = first["data"]["code_changes"]
    [modified] = second["data"]["code_changes"]
    created_detail = (await client.get(f"/changes/{created['id']}")).json()
    assert created_detail["before"] is None
    assert created_detail["after"].endswith("- first\n")
    assert {k: v for k, v in created_detail.items() if k not in ("before", "after")} == created
    modified_detail = (await client.get(f"/changes/{modified['id']}")).json()
    assert modified_detail["before"] == created_detail["after"]
    assert modified_detail["after"].endswith("- first\n- second\n")
