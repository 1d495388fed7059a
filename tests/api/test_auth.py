"""Signing in and out, API tokens, and what of them the server keeps. Real server, TANDEM_AUTH=accounts."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import AccountsServer, MemberFactory, accounts_server, sign_in
from tests.conftest import Backend, psql


def _cookie_attributes(response: httpx.Response) -> dict[str, str]:
    [header] = response.headers.get_list("set-cookie")
    name_value, *attributes = [part.strip() for part in header.split(";")]
    assert name_value.startswith("tandem_session=")
    return {key.lower(): value for key, _, value in (a.partition("=") for a in attributes)}


async def test_the_sign_in_cookie_is_http_only_same_site_and_secure_over_https(
    accounts: AccountsServer, new_member: MemberFactory
) -> None:
    member = await new_member()
    credentials = {"name": member.name, "password": member.password}
    async with httpx.AsyncClient(base_url=f"{accounts.server.url}/api/v1", timeout=30) as client:
        plain = _cookie_attributes(await client.post("/auth/login", json=credentials))
        # What a TLS-terminating proxy on this machine tells uvicorn (it trusts 127.0.0.1).
        https = _cookie_attributes(
            await client.post("/auth/login", json=credentials, headers={"X-Forwarded-Proto": "https"})
        )
    assert "httponly" in plain, "scripts in the page cannot read the sign-in"
    assert plain["samesite"].lower() == "strict", "no other site's page sends it"
    assert plain["path"] == "/"
    assert int(plain["max-age"]) == 14 * 24 * 3600
    assert "secure" not in plain, "over plain http the browser would drop a Secure cookie"
    assert "secure" in https
    assert "httponly" in https


async def test_signing_out_ends_the_sign_in_for_good(accounts: AccountsServer, new_member: MemberFactory) -> None:
    member = await new_member()
    async with aclosing(await sign_in(accounts.server.url, member.name, member.password)) as browser:
        secret = browser.cookies["tandem_session"]
        me = await browser.get("/auth/me")
        assert me.json()["name"] == member.name
        assert me.json()["auth"] == "accounts"
        assert (await browser.post("/auth/logout")).status_code == 204
    async with httpx.AsyncClient(
        base_url=f"{accounts.server.url}/api/v1", cookies={"tandem_session": secret}, timeout=30
    ) as replay:
        assert (await replay.get("/projects")).status_code == 401, "the old cookie no longer signs in"
    assert (await member.client.get("/projects")).status_code == 200, "tokens are not signed out"


async def test_a_wrong_password_and_an_unknown_user_are_told_apart_by_nothing(
    accounts: AccountsServer, new_member: MemberFactory
) -> None:
    member = await new_member()
    async with httpx.AsyncClient(base_url=f"{accounts.server.url}/api/v1", timeout=30) as client:
        wrong = await client.post("/auth/login", json={"name": member.name, "password": "not the password"})
        unknown = await client.post("/auth/login", json={"name": "nobody-at-all", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


async def test_a_revoked_token_signs_in_nobody(accounts: AccountsServer, new_member: MemberFactory) -> None:
    member = await new_member()
    created = await member.client.post("/auth/tokens", json={"name": "ci"})
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith("tdm_")
    listed = (await member.client.get("/auth/tokens")).json()
    assert {"id": token["id"], "name": "ci"} in [{"id": t["id"], "name": t["name"]} for t in listed]
    assert all("token" not in t for t in listed), "a token is shown once, when it is made"
    headers = {"Authorization": f"Bearer {token['token']}"}
    async with httpx.AsyncClient(base_url=f"{accounts.server.url}/api/v1", headers=headers, timeout=30) as ci:
        assert (await ci.get("/auth/me")).json()["name"] == member.name
        assert (await member.client.delete(f"/auth/tokens/{token['id']}")).status_code == 204
        assert (await ci.get("/auth/me")).status_code == 401


def _database_dump(accounts: AccountsServer) -> bytes:
    url = accounts.server.env.get("TANDEM_DATABASE_URL")
    if url is None:
        # The SQLite file and its write-ahead log: every byte the database holds.
        files = sorted(Path(accounts.server.data_dir).glob("tandem.db*"))
        assert files
        return b"".join(path.read_bytes() for path in files)
    name = url.rsplit("/", 1)[1]
    return subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", name], check=True, capture_output=True
    ).stdout


async def test_the_database_and_the_log_hold_no_token_and_no_password(
    accounts: AccountsServer, new_member: MemberFactory
) -> None:
    member = await new_member()
    async with aclosing(await sign_in(accounts.server.url, member.name, member.password)) as browser:
        cookie = browser.cookies["tandem_session"]
        await browser.get("/projects")
    token = (await member.client.post("/auth/tokens", json={"name": "dump"})).json()["token"]
    await member.client.get("/projects")
    dump = _database_dump(accounts)
    assert hashlib.sha256(token.encode()).hexdigest().encode() in dump, "the token's digest is what is kept"
    for secret in (token, member.token, cookie, member.password):
        assert secret.encode() not in dump
        assert accounts.server.log_path is not None
        assert secret not in accounts.server.log_path.read_text()


async def test_only_an_admin_creates_users_and_names_are_unique(
    accounts: AccountsServer, new_member: MemberFactory
) -> None:
    admin = await new_member("boss", is_admin=True)
    member = await new_member()
    body = {"name": member.name, "password": "long enough password"}
    assert (await admin.client.post("/users", json=body)).status_code == 409
    short = await admin.client.post("/users", json={"name": "short-pw", "password": "short"})
    assert short.status_code == 422
    assert member.name in [u["name"] for u in (await admin.client.get("/users")).json()]


@pytest.fixture
def guarded(tmp_path: Path, backend: Backend) -> Iterator[AccountsServer]:
    """A server of its own, on a database of its own: no other test's failed sign-ins count here."""
    database = f"tandem_guarded_{uuid.uuid4().hex[:10]}"
    if backend:
        psql(f"CREATE DATABASE {database}")
        backend = {**backend, "TANDEM_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"}
    started = accounts_server(tmp_path / "guarded", backend, TANDEM_LOGIN_ATTEMPTS_PER_MINUTE="3")
    yield started
    started.server.stop()
    if backend:
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.mark.timeout(300)  # its own server: the CLI and the server start on a loaded machine
async def test_password_guessing_is_stopped_with_429_naming_the_setting(guarded: AccountsServer) -> None:
    async with httpx.AsyncClient(base_url=f"{guarded.server.url}/api/v1", timeout=30) as client:
        for _ in range(3):
            guess = await client.post("/auth/login", json={"name": guarded.admin, "password": "guess-guess"})
            assert guess.status_code == 401
        # Even the right password, until the minute has passed: a guesser cannot tell.
        right = await client.post("/auth/login", json={"name": guarded.admin, "password": guarded.admin_password})
        assert right.status_code == 429, right.text
        assert right.json()["code"] == "rate_limited"
        assert "TANDEM_LOGIN_ATTEMPTS_PER_MINUTE" in right.json()["message"]
        assert 1 <= int(right.headers["retry-after"]) <= 60
        # Per address too: guessing another name from here is refused as well.
        other = await client.post("/auth/login", json={"name": "someone-else", "password": "guess-guess"})
        assert other.status_code == 429


@pytest.mark.timeout(300)  # its own server, as above
async def test_guesses_sent_all_at_once_are_counted_before_their_hashes(guarded: AccountsServer) -> None:
    async with httpx.AsyncClient(base_url=f"{guarded.server.url}/api/v1", timeout=60) as client:
        answers = await asyncio.gather(
            *(client.post("/auth/login", json={"name": guarded.admin, "password": f"guess-{i}"}) for i in range(20))
        )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * 3 + [429] * 17, "TANDEM_LOGIN_ATTEMPTS_PER_MINUTE=3 guesses get checked, no more"
