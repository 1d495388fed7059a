"""Two users cannot see or touch each other's anything, through any endpoint. The routes come from
the OpenAPI document: one that is neither probed here nor said to reach only the caller's own
things fails the test, so a new route cannot be forgotten. Real server, TANDEM_AUTH=accounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.conftest import AccountsServer, Member, MemberFactory
from tests.api.test_imports import imported, zip_bytes
from tests.support import read_events

Route = tuple[str, str]

# Every route that reaches a project, something in one, or a user's token — with a body that
# would be valid, so what refuses it is whose thing it is, never its shape.
REACHES_OWNED: dict[Route, dict[str, Any] | None] = {
    ("GET", "/projects/{project_id}"): None,
    ("PATCH", "/projects/{project_id}"): {"name": "taken"},
    ("DELETE", "/projects/{project_id}"): None,
    ("GET", "/projects/{project_id}/shares"): None,
    ("PUT", "/projects/{project_id}/shares/{user_name}"): {"role": "write"},
    ("DELETE", "/projects/{project_id}/shares/{user_name}"): None,
    ("GET", "/projects/{project_id}/files"): None,
    ("GET", "/projects/{project_id}/files/{path}"): None,
    ("PUT", "/projects/{project_id}/files/{path}"): {"content": "taken"},
    ("PATCH", "/projects/{project_id}/files/{path}"): {"path": "taken.txt"},
    ("DELETE", "/projects/{project_id}/files/{path}"): None,
    ("GET", "/projects/{project_id}/download"): None,
    ("GET", "/projects/{project_id}/download.bundle"): None,
    ("GET", "/projects/{project_id}/git/remote"): None,
    ("PUT", "/projects/{project_id}/git/remote"): {"url": "https://example.com/taken.git", "token": "taken"},
    ("DELETE", "/projects/{project_id}/git/remote"): None,
    ("POST", "/projects/{project_id}/git/push"): {"url": "https://example.com/taken.git"},
    ("POST", "/projects/{project_id}/git/pull"): {"url": "https://example.com/taken.git"},
    ("POST", "/projects/{project_id}/preview"): None,
    ("GET", "/projects/{project_id}/events"): None,
    ("POST", "/projects/{project_id}/commands"): {"command": "echo taken > taken.txt"},
    ("GET", "/projects/{project_id}/sessions"): None,
    ("GET", "/projects/{project_id}/changes"): None,
    ("GET", "/projects/{project_id}/history"): None,
    ("POST", "/projects/{project_id}/history/{sha}/restore"): None,
    ("POST", "/chat/{project_id}/stream"): {"message": "taken", "session_id": "{session_id}"},
    ("POST", "/chat/{project_id}"): {"message": "taken"},
    ("GET", "/runs/{run_id}"): None,
    ("GET", "/runs/{run_id}/stream"): None,
    ("POST", "/runs/{run_id}/cancel"): None,
    ("GET", "/runs/{run_id}/changes"): None,
    ("POST", "/runs/{run_id}/revert"): None,
    ("GET", "/sessions/{session_id}"): None,
    ("DELETE", "/sessions/{session_id}"): None,
    ("GET", "/sessions/{session_id}/messages"): None,
    ("GET", "/changes/{change_id}"): None,
    ("POST", "/changes/{change_id}/revert"): None,
    ("DELETE", "/auth/tokens/{token_id}"): None,
    ("GET", "/imports/{import_id}"): None,
    ("POST", "/imports/{import_id}/cancel"): None,
}
# POSTs that change nothing, open to a read-only share: a preview link reads the project's pages.
READING_POSTS = {"/projects/{project_id}/preview"}

ADMIN_ONLY: dict[Route, dict[str, Any] | None] = {
    ("GET", "/users"): None,
    ("POST", "/users"): {"name": "intruder", "password": "long enough password", "is_admin": True},
    ("GET", "/audit"): None,
    ("POST", "/models/check"): None,
    ("GET", "/models/settings"): None,
    ("PUT", "/models/settings"): {"provider": "openai", "planner_model": "gpt-4o", "api_key": "sk-intruder-0000"},
}
# Routes that reach nothing of another user's: what they answer is the caller's own (the lists
# are checked below) or public.
OWN_OR_PUBLIC: dict[Route, str] = {
    ("GET", "/health"): "public: version and model configuration",
    ("POST", "/auth/login"): "public: signs in",
    ("POST", "/auth/logout"): "ends the caller's own sign-in",
    ("GET", "/auth/me"): "the caller",
    ("GET", "/auth/tokens"): "the caller's tokens (checked: never another's)",
    ("POST", "/auth/tokens"): "a token for the caller",
    ("GET", "/templates"): "the project templates, the same for everyone",
    ("GET", "/projects"): "the caller's projects (checked: never another's)",
    ("POST", "/projects"): "a project of the caller's",
}
PUBLIC = {("GET", "/health"), ("POST", "/auth/login")}


@dataclass(frozen=True)
class World:
    """A user's project with a finished run, its session, a code change and a file; and their token."""

    owner: Member
    ids: dict[str, Any]


@pytest.fixture
async def alice(new_member: MemberFactory) -> World:
    alice = await new_member("alice")
    client = alice.client
    project = (await client.post("/projects", json={"name": "alice secret", "template": "react-vite"})).json()
    async with client.stream("POST", f"/chat/{project['id']}/stream", json={"message": "mine"}) as response:
        events = [event async for event in read_events(response)]
    assert events[-1].type == "complete", events[-1]
    change = events[-1].data["code_changes"][0]
    token_id = (await client.get("/auth/tokens")).json()[0]["id"]
    upload = await client.post(
        "/projects",
        params={"name": "alice import"},
        content=zip_bytes({"notes.txt": b"alice's own\n"}),
        headers={"Content-Type": "application/zip"},
    )
    job = await imported(client, upload)  # settled, so that the snapshots below compare a job at rest
    first = (await client.get(f"/projects/{project['id']}/history")).json()[-1]
    remote = {"url": "https://example.com/alice.git", "token": "alice-secret-token"}
    assert (await client.put(f"/projects/{project['id']}/git/remote", json=remote)).status_code == 200
    return World(
        owner=alice,
        ids={
            "project_id": project["id"],
            "run_id": events[0].data["run_id"],
            "session_id": events[-1].data["session_id"],
            "change_id": change["id"],
            "path": change["path"],
            "token_id": token_id,
            "import_id": job["id"],
            "sha": first["sha"],
        },
    )


async def _snapshot(world: World) -> dict[str, object]:
    """Everything of the owner's another user could read or change."""
    client, ids = world.owner.client, world.ids
    project = ids["project_id"]
    urls = [
        f"/projects/{project}",
        f"/projects/{project}/files",
        f"/projects/{project}/files/{ids['path']}",
        f"/projects/{project}/sessions",
        f"/projects/{project}/changes",
        f"/projects/{project}/history",
        f"/projects/{project}/shares",
        f"/projects/{project}/git/remote",
        f"/sessions/{ids['session_id']}/messages",
        f"/runs/{ids['run_id']}",
        "/auth/tokens",
        f"/imports/{ids['import_id']}",
    ]
    snapshot = {}
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, (url, response.text)
        snapshot[url] = response.json()
    return snapshot


async def _request(client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any] | None) -> httpx.Response:
    """The answer, its body read unless it is an event stream (one that follows a project never ends)."""
    async with client.stream(method, url, json=body) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            await response.aread()
    return response


def _routes(openapi: dict[str, Any]) -> set[Route]:
    return {(method.upper(), path.removeprefix("/api/v1")) for path, ops in openapi["paths"].items() for method in ops}


def _fill(template: str, ids: dict[str, Any]) -> str:
    return re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), template)


def _body(body: dict[str, Any] | None, ids: dict[str, Any]) -> dict[str, Any] | None:
    if body is None:
        return None
    return {key: int(_fill(value, ids)) if value == "{session_id}" else value for key, value in body.items()}


async def test_every_route_is_classified(accounts: AccountsServer, new_member: MemberFactory) -> None:
    member = await new_member()
    routes = _routes((await member.client.get("/openapi.json")).json())
    table = {*REACHES_OWNED, *ADMIN_ONLY, *OWN_OR_PUBLIC}
    assert routes - table == set(), "a new route: probe it in REACHES_OWNED or say why it is OWN_OR_PUBLIC"
    assert table - routes == set(), "a route that no longer exists"


async def test_nobody_sees_or_touches_another_users_anything(alice: World, new_member: MemberFactory) -> None:
    bob = await new_member("bob")
    ids = {**alice.ids, "user_name": bob.name}
    before = await _snapshot(alice)
    for (method, template), body in REACHES_OWNED.items():
        response = await _request(bob.client, method, _fill(template, ids), _body(body, ids))
        assert response.status_code == 404, (method, template, response.text)
        assert response.json()["code"] == "not_found"
        assert "alice secret" not in response.text
    for (method, template), body in ADMIN_ONLY.items():
        response = await bob.client.request(method, template, json=body)
        assert response.status_code == 403, (method, template, response.text)
    assert alice.ids["project_id"] not in [p["id"] for p in (await bob.client.get("/projects")).json()]
    assert (await bob.client.get("/projects")).headers["x-total-count"] == "0"
    assert alice.ids["token_id"] not in [t["id"] for t in (await bob.client.get("/auth/tokens")).json()]
    assert await _snapshot(alice) == before, "nothing of alice's changed"


async def test_a_read_only_share_reads_and_changes_nothing(alice: World, new_member: MemberFactory) -> None:
    carol = await new_member("carol")
    ids = {**alice.ids, "user_name": carol.name}
    shared = await alice.owner.client.put(f"/projects/{ids['project_id']}/shares/{carol.name}", json={"role": "read"})
    assert shared.status_code == 200, shared.text
    before = await _snapshot(alice)
    listed = (await carol.client.get("/projects")).json()
    assert [(p["id"], p["role"], p["owner"]) for p in listed] == [(ids["project_id"], "read", alice.owner.name)]
    for (method, template), body in REACHES_OWNED.items():
        if template == "/auth/tokens/{token_id}":
            continue  # a token is never shared
        response = await _request(carol.client, method, _fill(template, ids), _body(body, ids))
        # An import job is its starter's, whatever becomes of the project: a share does not reach it.
        reads = method == "GET" or template in READING_POSTS
        expected = 404 if template.startswith("/imports/") else 200 if reads else 403
        assert response.status_code == expected, (method, template, response.text)
    assert await _snapshot(alice) == before, "a read-only share changed nothing"


async def test_a_write_share_writes_but_neither_deletes_nor_reshares(alice: World, new_member: MemberFactory) -> None:
    dave, eve = await new_member("dave"), await new_member("eve")
    project = alice.ids["project_id"]
    await alice.owner.client.put(f"/projects/{project}/shares/{dave.name}", json={"role": "write"})
    written = await dave.client.put(f"/projects/{project}/files/dave.txt", json={"content": "hi"})
    assert written.status_code == 200, written.text
    assert (await alice.owner.client.get(f"/projects/{project}/files/dave.txt")).json()["content"] == "hi"
    assert (await dave.client.put(f"/projects/{project}/shares/{eve.name}", json={"role": "read"})).status_code == 403
    assert (await dave.client.delete(f"/projects/{project}")).status_code == 403
    assert (await eve.client.get(f"/projects/{project}")).status_code == 404
    unshared = await alice.owner.client.delete(f"/projects/{project}/shares/{dave.name}")
    assert unshared.status_code == 204
    assert (await dave.client.get(f"/projects/{project}")).status_code == 404, "unsharing ends the access"


async def test_another_users_live_run_can_be_neither_followed_nor_stopped(new_member: MemberFactory) -> None:
    alice, bob = await new_member("alice"), await new_member("bob")
    project = (await alice.client.post("/projects", json={"name": "p", "template": "react-vite"})).json()
    async with alice.client.stream("POST", f"/chat/{project['id']}/stream", json={"message": "go"}) as response:
        events = read_events(response)
        start = await anext(events)
        run_id = start.data["run_id"]
        for attempt in (
            bob.client.get(f"/runs/{run_id}/stream"),
            bob.client.get(f"/runs/{run_id}/stream", headers={"Last-Event-ID": "1"}),
            bob.client.post(f"/runs/{run_id}/cancel"),
            bob.client.post(f"/chat/{project['id']}/stream", json={"message": "mine now"}),
        ):
            refused = await attempt
            assert refused.status_code == 404, refused.text
        rest = [event async for event in events]
    assert rest[-1].type == "complete", "bob's cancel did not stop alice's run"


async def test_without_credentials_only_the_public_routes_answer(
    accounts: AccountsServer, alice: World, new_member: MemberFactory
) -> None:
    anonymous = httpx.AsyncClient(base_url=f"{accounts.server.url}/api/v1", timeout=30)
    forged = httpx.AsyncClient(
        base_url=f"{accounts.server.url}/api/v1",
        headers={"Authorization": "Bearer tdm_not-a-token", "Cookie": "tandem_session=not-a-session"},
        timeout=30,
    )
    ids = {**alice.ids, "user_name": alice.owner.name}
    async with anonymous, forged:
        routes = _routes((await anonymous.get("/openapi.json")).json())
        for method, template in sorted(routes - PUBLIC):
            body = {**REACHES_OWNED, **ADMIN_ONLY}.get((method, template))
            for client in (anonymous, forged):
                response = await client.request(method, _fill(template, ids), json=_body(body, ids))
                assert response.status_code == 401, (method, template, response.text)
                assert response.json()["code"] == "unauthorized"
                assert response.headers["www-authenticate"].startswith("Bearer")
        assert (await anonymous.get("/health")).status_code == 200
