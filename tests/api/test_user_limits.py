"""Per-user limits: runs at once and runs and downloads per minute answer 429 with `Retry-After`
and name their setting; one user at a limit does not hold up another. And the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import httpx
import pytest

from tests.api.conftest import AccountsServer, Member, accounts_server, sign_in
from tests.conftest import Backend
from tests.support import read_events

# A server of its own (the CLI and the server start up, on a loaded machine), and runs waited for.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[AccountsServer]:
    started = accounts_server(
        tmp_path_factory.mktemp("limited"),
        backend,
        TANDEM_MAX_RUNS_PER_USER="1",
        TANDEM_RUNS_PER_MINUTE="3",
        TANDEM_DOWNLOADS_PER_MINUTE="2",
    )
    yield started
    started.server.stop()


@pytest.fixture
async def admin(limited: AccountsServer) -> AsyncIterator[httpx.AsyncClient]:
    async with aclosing(await sign_in(limited.server.url, limited.admin, limited.admin_password)) as client:
        yield client


async def member(limited: AccountsServer, admin: httpx.AsyncClient, prefix: str) -> Member:
    name = f"{prefix}{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is the whole session's
    password = "a long enough password"
    created = await admin.post("/users", json={"name": name, "password": password})
    assert created.status_code == 201, created.text
    async with aclosing(await sign_in(limited.server.url, name, password)) as browser:
        token = (await browser.post("/auth/tokens", json={"name": "limits"})).json()["token"]
    client = httpx.AsyncClient(
        base_url=f"{limited.server.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    return Member(name=name, password=password, token=token, client=client)


async def project(client: httpx.AsyncClient) -> int:
    return int((await client.post("/projects", json={"name": "p", "template": "react-vite"})).json()["id"])


def assert_limited(response: httpx.Response, setting: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    assert setting in response.json()["message"]
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_runs_at_once_are_limited_per_user(limited: AccountsServer, admin: httpx.AsyncClient) -> None:
    first, second = await member(limited, admin, "busy"), await member(limited, admin, "other")
    async with first.client, second.client:
        a, b, c = await project(first.client), await project(first.client), await project(second.client)
        async with first.client.stream("POST", f"/chat/{a}/stream", json={"message": "long"}) as running:
            events = read_events(running)
            await anext(events)  # started
            assert_limited(
                await first.client.post(f"/chat/{b}", json={"message": "and this"}), "TANDEM_MAX_RUNS_PER_USER"
            )
            other = await second.client.post(f"/chat/{c}", json={"message": "mine"})
            assert other.json()["status"] == "completed", "another user is not held up"
            assert [event async for event in events][-1].type == "complete"
        after = await first.client.post(f"/chat/{b}", json={"message": "now"})
        assert after.json()["status"] == "completed", "the slot is free once the run ended"


async def test_runs_per_minute_are_limited_per_user(limited: AccountsServer, admin: httpx.AsyncClient) -> None:
    eager, calm = await member(limited, admin, "eager"), await member(limited, admin, "calm")
    async with eager.client, calm.client:
        mine = await project(eager.client)
        for _ in range(3):
            assert (await eager.client.post(f"/chat/{mine}", json={"message": "again"})).status_code == 200
        assert_limited(await eager.client.post(f"/chat/{mine}", json={"message": "again"}), "TANDEM_RUNS_PER_MINUTE")
        theirs = await project(calm.client)
        assert (await calm.client.post(f"/chat/{theirs}", json={"message": "hi"})).status_code == 200


async def test_downloads_per_minute_are_limited_per_user(limited: AccountsServer, admin: httpx.AsyncClient) -> None:
    hoarder = await member(limited, admin, "hoarder")
    async with hoarder.client:
        mine = await project(hoarder.client)
        for _ in range(2):
            assert (await hoarder.client.get(f"/projects/{mine}/download")).status_code == 200
        assert_limited(await hoarder.client.get(f"/projects/{mine}/download"), "TANDEM_DOWNLOADS_PER_MINUTE")


async def test_the_audit_trail_says_who_did_what_and_only_admins_read_it(
    limited: AccountsServer, admin: httpx.AsyncClient
) -> None:
    actor = await member(limited, admin, "actor")
    async with actor.client:
        mine = await project(actor.client)
        async with actor.client.stream("POST", f"/chat/{mine}/stream", json={"message": "go"}) as response:
            events = [event async for event in read_events(response)]
        run_id = events[0].data["run_id"]
        change_id = events[-1].data["code_changes"][0]["id"]
        await actor.client.post(f"/runs/{run_id}/cancel")
        assert (await actor.client.post(f"/changes/{change_id}/revert")).status_code == 200
        assert (await actor.client.get(f"/projects/{mine}/download")).status_code == 200
        assert (await actor.client.get("/audit")).status_code == 403
    rows = (await admin.get("/audit", params={"limit": 1000})).json()
    done = {(row["actor"], row["action"], row["target"]) for row in rows}
    assert (actor.name, "auth.login", f"user {actor.name}") in done
    assert (actor.name, "project.create", f"project {mine} (p)") in done
    assert (actor.name, "run.start", f"run {run_id} in project {mine}") in done
    assert (actor.name, "run.cancel", f"run {run_id} in project {mine}") in done
    assert (actor.name, "change.revert", f"change {change_id} in project {mine}") in done
    assert (actor.name, "project.export", f"project {mine} (p)") in done
    assert (limited.admin, "user.create", f"user {actor.name}") in done
    assert ("cli", "user.create", f"user {limited.admin} (admin)") in done
    only = (await admin.get("/audit", params={"action": "run.cancel"})).json()
    assert {row["action"] for row in only} == {"run.cancel"}
