"""`GET /projects/{id}/history` and restore over HTTP: a run is one commit with the user's request
and its run id, edits are batched into a commit, a revert and a restore are new commits, and two
processes on one database serve the same history."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.support import run_chat


async def history(client: httpx.AsyncClient, project: int) -> list[dict[str, Any]]:
    response = await client.get(f"/projects/{project}/history")
    assert response.status_code == 200, response.text
    commits: list[dict[str, Any]] = response.json()
    return commits


async def files(client: httpx.AsyncClient, project: int) -> dict[str, str]:
    listed = (await client.get(f"/projects/{project}/files")).json()
    return {f["path"]: (await client.get(f"/projects/{project}/files/{f['path']}")).json()["content"] for f in listed}


async def test_a_run_edits_a_revert_and_a_restore_are_each_a_commit(client: httpx.AsyncClient) -> None:
    project, events = await run_chat(client, "write hello")
    run_id = events[0].data["run_id"]
    changes = events[-1].data["code_changes"]
    commits = await history(client, project)
    assert [c["kind"] for c in commits] == ["run", "initial"]
    run = commits[0]
    assert run["message"] == f"write hello\n\nRun: {run_id}"
    assert run["run_id"] == run_id
    assert run["author"] == "Tandem agents <agents@tandem.invalid>"
    assert run["committer"] == "Tandem <tandem@tandem.invalid>"
    assert run["parent_sha"] == commits[1]["sha"]
    assert {(f["path"], f["diff"]) for f in run["files"]} == {(c["path"], c["diff"]) for c in changes}
    before_run = await files(client, project)

    assert (await client.put(f"/projects/{project}/files/notes.md", json={"content": "one\n"})).status_code == 200
    assert (await client.put(f"/projects/{project}/files/notes.md", json={"content": "two\n"})).status_code == 200
    commits = await history(client, project)
    assert [c["kind"] for c in commits] == ["edits", "run", "initial"]  # two saves, one commit
    assert [(f["path"], f["change_type"]) for f in commits[0]["files"]] == [("notes.md", "created")]

    assert (await client.post(f"/runs/{run_id}/revert")).status_code == 200
    commits = await history(client, project)
    assert commits[0]["kind"] == "revert"
    assert commits[0]["message"] == f"Revert run {run_id}"

    restored = await client.post(f"/projects/{project}/history/{run['sha']}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["kind"] == "restore"
    assert await files(client, project) == before_run  # notes.md gone, the run's files back
    commits = await history(client, project)
    assert [c["kind"] for c in commits] == ["restore", "revert", "edits", "run", "initial"]  # nothing lost


async def test_restoring_an_unknown_commit_is_404(client: httpx.AsyncClient) -> None:
    project, _ = await run_chat(client)
    response = await client.post(f"/projects/{project}/history/{'0' * 40}/restore")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_two_processes_serve_the_same_history(start_server: ServerFactory) -> None:
    first = start_server(TANDEM_MODEL="scripted")
    second = start_server(data_dir=first.data_dir, TANDEM_MODEL="scripted")
    async with (
        httpx.AsyncClient(base_url=f"{first.url}/api/v1", timeout=60) as one,
        httpx.AsyncClient(base_url=f"{second.url}/api/v1", timeout=60) as two,
    ):
        project, _ = await run_chat(one, "write hello")
        await one.put(f"/projects/{project}/files/a.txt", json={"content": "from one\n"})
        assert await history(one, project) == await history(two, project)
        await two.put(f"/projects/{project}/files/a.txt", json={"content": "from two\n"})
        seen_by_two = await history(two, project)
        assert seen_by_two == await history(one, project)
        assert [c["kind"] for c in seen_by_two] == ["edits", "edits", "run", "initial"]
        restored = await one.post(f"/projects/{project}/history/{seen_by_two[1]['sha']}/restore")
        assert restored.status_code == 200
        assert (await two.get(f"/projects/{project}/files/a.txt")).json()["content"] == "from one\n"
