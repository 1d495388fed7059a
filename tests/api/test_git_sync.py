"""Push, pull and bundle against real Git: bare repositories served over smart HTTP on loopback by
`git http-backend`, read back with the `git` CLI. A run's commit pushed is the commit `git show`
shows; a commit made outside is pulled in; a conflict changes nothing; a token leaks nowhere."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import MemberFactory, accounts_server, sign_in
from tests.api.test_history import files, history
from tests.api.test_imports import imported
from tests.conftest import Backend, ServerFactory
from tests.git_support import bare_clone, commit, git, make_repository, serve_git
from tests.support import Server, read_events, run_chat

USER, TOKEN = "alice", "tok-S3cr3t-9f8e7d6c5b4a"


@pytest.fixture
def remotes(tmp_path: Path) -> Path:
    """`remote.git`: a bare repository whose main branch has one commit (README.md)."""
    root = tmp_path / "served"
    root.mkdir()
    bare_clone(make_repository(tmp_path / "seed", {"README.md": "# Remote\n"}), root / "remote.git")
    return root


@pytest.fixture
def served(remotes: Path) -> Iterator[str]:
    """The remotes, readable and writable only with USER and TOKEN."""
    with serve_git(remotes, credentials=(USER, TOKEN)) as base:
        yield base


def with_token(url: str, **more: Any) -> dict[str, Any]:
    return {"url": url, "username": USER, "token": TOKEN, **more}


def clone(remote: Path | str, target: Path, *options: str) -> Path:
    subprocess.run(["git", "clone", "-q", *options, str(remote), str(target)], check=True, capture_output=True)
    return target


def dump(database_url: str) -> str:
    plain = database_url.replace("postgresql+asyncpg", "postgresql")
    return subprocess.run(["pg_dump", plain], check=True, capture_output=True).stdout.decode(errors="replace")


async def test_a_runs_commit_pushed_is_what_git_shows(client: httpx.AsyncClient, served: str, remotes: Path) -> None:
    project, _ = await run_chat(client, "write hello")
    run = (await history(client, project))[0]
    assert run["kind"] == "run"

    pushed = await client.post(f"/projects/{project}/git/push", json=with_token(f"{served}/remote.git"))
    assert pushed.status_code == 200, pushed.text
    name = (await client.get(f"/projects/{project}")).json()["name"]  # "p", or "p 2" when taken
    branch = "tandem/" + name.replace(" ", "-")
    assert pushed.json() == {"url": f"{served}/remote.git", "branch": branch, "sha": run["sha"], "outcome": "created"}

    remote = remotes / "remote.git"
    assert git("log", "--format=%H %s", branch, cwd=remote).splitlines()[0] == f"{run['sha']} write hello"
    shown = git("show", "--format=", run["sha"], cwd=remote)
    for change in run["files"]:
        for line in change["diff"].splitlines():
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                assert line in shown.splitlines(), (line, shown)
    assert git("log", "--format=%s", "main", cwd=remote).splitlines() == ["initial"], "main untouched"
    git("fsck", "--strict", cwd=remote)

    again = await client.post(f"/projects/{project}/git/push", json=with_token(f"{served}/remote.git"))
    assert again.json()["outcome"] == "up_to_date"


async def test_the_main_branch_is_pushed_only_when_asked_and_never_forced(
    client: httpx.AsyncClient, served: str, remotes: Path
) -> None:
    project, _ = await run_chat(client, "write hello")
    url = f"{served}/remote.git"
    refused = await client.post(f"/projects/{project}/git/push", json=with_token(url, branch="main"))
    assert refused.status_code == 422, refused.text
    assert "allow_default_branch" in refused.json()["message"]
    # Asked for, but main's history is not the project's: not a fast-forward, so nothing is pushed.
    forced = await client.post(
        f"/projects/{project}/git/push", json=with_token(url, branch="main", allow_default_branch=True)
    )
    assert forced.status_code == 409, forced.text
    assert "never force-pushes" in forced.json()["message"]
    assert git("log", "--format=%s", "main", cwd=remotes / "remote.git").splitlines() == ["initial"]


async def test_a_commit_made_outside_is_pulled_and_pushed_back_as_a_fast_forward(
    client: httpx.AsyncClient, served: str, remotes: Path, tmp_path: Path
) -> None:
    project, _ = await run_chat(client, "write hello")
    url = f"{served}/remote.git"
    branch = (await client.post(f"/projects/{project}/git/push", json=with_token(url))).json()["branch"]
    work = clone(remotes / "remote.git", tmp_path / "work", "-b", branch)
    commit(work, {"outside.txt": "made outside\n"}, "outside change")
    git("push", "-q", "origin", branch, cwd=work)
    outside = git("rev-parse", "HEAD", cwd=work).strip()

    pulled = await client.post(f"/projects/{project}/git/pull", json=with_token(url, branch=branch))
    assert pulled.status_code == 200, pulled.text
    body = pulled.json()
    assert (body["outcome"], body["remote_sha"]) == ("fast_forward", outside)
    assert (await files(client, project))["outside.txt"] == "made outside\n"
    top = (await history(client, project))[0]
    assert (top["kind"], top["sha"]) == ("pull", body["commit_sha"])
    assert [(f["path"], f["change_type"]) for f in top["files"]] == [("outside.txt", "created")]

    # The project edits one file while the outside edits another: a clean three-way merge.
    await client.put(f"/projects/{project}/files/mine.txt", json={"content": "from tandem\n"})
    commit(work, {"theirs.txt": "from outside\n"}, "another outside change")
    git("push", "-q", "origin", branch, cwd=work)
    merged = await client.post(f"/projects/{project}/git/pull", json=with_token(url, branch=branch))
    assert merged.status_code == 200, merged.text
    assert merged.json()["outcome"] == "merged"
    now = await files(client, project)
    assert (now["mine.txt"], now["theirs.txt"]) == ("from tandem\n", "from outside\n")

    # Both pulled commits are parents in the project's history: pushing back is a fast-forward.
    pushed = await client.post(f"/projects/{project}/git/push", json=with_token(url))
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["outcome"] == "updated"
    remote = remotes / "remote.git"
    assert git("rev-parse", branch, cwd=remote).strip() == merged.json()["commit_sha"]
    git("merge-base", "--is-ancestor", outside, branch, cwd=remote)
    up_to_date = await client.post(f"/projects/{project}/git/pull", json=with_token(url, branch=branch))
    assert up_to_date.json()["outcome"] == "up_to_date"


async def test_a_conflicting_pull_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, served: str, remotes: Path, tmp_path: Path
) -> None:
    project, _ = await run_chat(client, "write hello")
    url = f"{served}/remote.git"
    await client.put(f"/projects/{project}/files/shared.txt", json={"content": "base\n"})
    branch = (await client.post(f"/projects/{project}/git/push", json=with_token(url))).json()["branch"]
    work = clone(remotes / "remote.git", tmp_path / "work", "-b", branch)
    commit(work, {"shared.txt": "theirs\n", "other.txt": "theirs too\n"}, "outside edit")
    git("push", "-q", "origin", branch, cwd=work)
    await client.put(f"/projects/{project}/files/shared.txt", json={"content": "ours\n"})
    before = (await files(client, project), await history(client, project))

    refused = await client.post(f"/projects/{project}/git/pull", json=with_token(url, branch=branch))
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "merge_conflict"
    assert "shared.txt" in refused.json()["message"]
    assert "other.txt" not in refused.json()["message"]
    assert (await files(client, project), await history(client, project)) == before


async def test_a_project_imported_without_history_pulls_what_changed_since(
    client: httpx.AsyncClient, remotes: Path, tmp_path: Path
) -> None:
    """The import took the files, not the commits: the pull merges as if both grew from them."""
    work = clone(remotes / "remote.git", tmp_path / "work")
    with serve_git(remotes) as base:
        url = f"{base}/remote.git"
        job = await imported(client, await client.post("/projects", json={"name": "p", "source": {"url": url}}))
        project = job["project_id"]
        await client.put(f"/projects/{project}/files/notes.txt", json={"content": "ours\n"})
        commit(work, {"README.md": "# Remote, later\n"}, "later")
        git("push", "-q", "origin", "main", cwd=work)
        pulled = await client.post(f"/projects/{project}/git/pull", json={"url": url})
    assert pulled.status_code == 200, pulled.text
    assert (pulled.json()["branch"], pulled.json()["outcome"]) == ("main", "merged")
    now = await files(client, project)
    assert (now["README.md"], now["notes.txt"]) == ("# Remote, later\n", "ours\n")


async def test_the_bundle_clones_with_the_projects_history(client: httpx.AsyncClient, tmp_path: Path) -> None:
    project, _ = await run_chat(client, "write hello")
    await client.put(f"/projects/{project}/files/notes.md", json={"content": "later\n"})
    commits = await history(client, project)
    response = await client.get(f"/projects/{project}/download.bundle")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-git-bundle"
    bundle = tmp_path / "p.bundle"
    bundle.write_bytes(response.content)
    target = tmp_path / "cloned"
    clone(bundle, target)
    assert git("log", "--format=%H", cwd=target).split() == [c["sha"] for c in commits]
    project_files = await files(client, project)
    cloned = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert cloned == set(project_files)
    assert (target / "notes.md").read_text() == "later\n"


async def test_a_token_leaks_nowhere(
    client: httpx.AsyncClient, served: str, scripted_server: Server, backend: Backend, tmp_path: Path
) -> None:
    project, _ = await run_chat(client, "write hello")
    url = f"{served}/remote.git"
    saved = await client.put(f"/projects/{project}/git/remote", json=with_token(url))
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"url": url, "username": USER, "token_set": True, "token_readable": True}
    assert (await client.get(f"/projects/{project}/git/remote")).json() == saved.json()
    # The saved remote and its token serve a push that names neither.
    pushed = await client.post(f"/projects/{project}/git/push", json={})
    assert pushed.status_code == 200, pushed.text
    wrong = await client.post(f"/projects/{project}/git/push", json=with_token(url, token=TOKEN + "x"))
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["code"] == "git_failed"

    encoded = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    seen = [
        pushed.text,
        wrong.text,
        (await client.get(f"/projects/{project}/history")).text,
        (await client.get("/audit")).text if (await client.get("/audit")).status_code == 200 else "",
    ]
    assert scripted_server.log_path is not None
    seen.append(scripted_server.log_path.read_text(errors="replace"))
    if "TANDEM_DATABASE_URL" in backend:
        seen.append(dump(backend["TANDEM_DATABASE_URL"]))
    for path in scripted_server.data_dir.rglob("*"):
        if path.is_file():
            seen.append(path.read_bytes().decode(errors="replace"))
    for text in seen:
        assert TOKEN not in text
        assert encoded not in text
    assert any("remote.git" in text for text in seen), "the places searched do hold the push"

    forgotten = await client.put(f"/projects/{project}/git/remote", json={"url": url, "forget_token": True})
    assert forgotten.json()["token_set"] is False
    refused = await client.post(f"/projects/{project}/git/push", json={})
    assert refused.status_code == 422
    assert "terminal prompts disabled" in refused.json()["message"] or "401" in refused.json()["message"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"url": "ftp://example.com/x.git"}, 422, "scheme"),
        ({"url": "https://user:pw@example.com/x.git"}, 422, "token field"),
        ({"url": "http://example.com/x.git", "branch": "../main"}, 422, "branch"),
        ({"url": "http://example.com/x.git", "branch": "-x"}, 422, "branch"),
        ({"url": "http://example.com/x.git", "branch": "HEAD"}, 422, "branch"),
        ({}, 422, "save a remote"),
        ({"url": "http://host.invalid/x.git"}, 422, "cannot be resolved"),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, says: str
) -> None:
    project, _ = await run_chat(client, "write hello")
    for action in ("push", "pull"):
        response = await client.post(f"/projects/{project}/git/{action}", json=body)
        assert response.status_code == status, (action, response.text)
        assert says in response.text, (action, response.text)


async def test_a_missing_repository_is_a_clear_4xx(client: httpx.AsyncClient, served: str) -> None:
    project, _ = await run_chat(client, "write hello")
    for action in ("push", "pull"):
        response = await client.post(f"/projects/{project}/git/{action}", json=with_token(f"{served}/missing.git"))
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "git_failed"
        assert "missing.git" in response.json()["message"]


async def test_a_member_may_not_reach_the_servers_network(new_member: MemberFactory, remotes: Path) -> None:
    user = await new_member("user")
    project = (await user.client.post("/projects", json={"name": "p", "template": "blank"})).json()["id"]
    with serve_git(remotes) as base:
        for action in ("push", "pull"):
            refused = await user.client.post(f"/projects/{project}/git/{action}", json={"url": f"{base}/remote.git"})
            assert refused.status_code == 403, refused.text
            assert "TANDEM_IMPORT_GIT_INTERNAL_HOSTS" in refused.json()["message"]
        local = await user.client.post(f"/projects/{project}/git/push", json={"url": f"file://{remotes}/remote.git"})
        assert local.status_code == 403
    assert git("branch", "--list", cwd=remotes / "remote.git").split() == ["*", "main"]


async def test_a_pull_during_a_run_is_busy_and_changes_nothing(
    client: httpx.AsyncClient, served: str, remotes: Path
) -> None:
    project = (await client.post("/projects", json={"name": "p", "template": "blank"})).json()["id"]
    before = await files(client, project)
    refusals = []
    async with client.stream("POST", f"/chat/{project}/stream", json={"message": "write hello"}) as response:
        async for event in read_events(response):
            if event.type == "agent_interaction" and not refusals:
                refusals.append(
                    await client.post(f"/projects/{project}/git/pull", json=with_token(f"{served}/remote.git"))
                )
    refused = refusals[0]
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "busy"
    assert before["README.md"] != "# Remote\n"
    assert (await files(client, project))["README.md"] == before["README.md"]
    assert "pull" not in [c["kind"] for c in await history(client, project)]


async def test_a_pull_larger_than_the_project_limit_is_413_and_changes_nothing(
    start_server: ServerFactory, remotes: Path, tmp_path: Path
) -> None:
    server = start_server(TANDEM_MAX_PROJECT_BYTES="60000", TANDEM_MAX_FILE_BYTES="60000")
    work = clone(remotes / "remote.git", tmp_path / "work")
    commit(work, {"big.bin": os.urandom(150_000)}, "too big")
    git("push", "-q", "origin", "main", cwd=work)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=60) as client:
        project = (await client.post("/projects", json={"name": "p", "template": "blank"})).json()["id"]
        before = await files(client, project)
        with serve_git(remotes) as base:
            refused = await client.post(f"/projects/{project}/git/pull", json={"url": f"{base}/remote.git"})
        assert refused.status_code == 413, refused.text
        assert "TANDEM_MAX_" in refused.json()["message"]  # the limit it passed, named
        assert await files(client, project) == before


async def test_pushes_and_pulls_are_counted_per_minute(tmp_path: Path, backend: Backend) -> None:
    # A user of their own: on PostgreSQL the database, and so the audit counted, is the suite's.
    started = accounts_server(tmp_path / "data", backend, TANDEM_IMPORTS_PER_MINUTE="2")
    client = await sign_in(started.server.url, started.admin, started.admin_password)
    try:
        project = (await client.post("/projects", json={"name": "p", "template": "blank"})).json()["id"]
        body = {"url": "http://host.invalid/x.git"}
        for action in ("push", "pull"):  # refused ones count: each may make the server reach a host
            assert (await client.post(f"/projects/{project}/git/{action}", json=body)).status_code == 422
        refused = await client.post(f"/projects/{project}/git/push", json=body)
        assert refused.status_code == 429, refused.text
        assert "TANDEM_IMPORTS_PER_MINUTE" in refused.json()["message"]
        assert int(refused.headers["retry-after"]) > 0
        audited = (await client.get("/audit")).json()
        mine = [e["action"] for e in audited if e["actor"] == started.admin and e["action"].startswith("project.p")]
        assert sorted(mine) == ["project.pull", "project.push"]
    finally:
        await client.aclose()
        started.server.stop()
