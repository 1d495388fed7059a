"""A project's history taken out and brought back with the `git` client: a bundle, a push, a pull.

Each operation works in a private bare repository in a scratch folder: the project's stored
objects (`git_history`) are written into it as loose objects, exactly as Git would have written
them, and `git` does the rest (pack, bundle, push, fetch, merge). The scratch folder is removed
by the caller; nothing here writes to the database.

Credentials never reach the command line, the scratch repository's config or any message: the
token travels in an `http.extraHeader` given through `GIT_CONFIG_*` environment variables (only
this account can read a process's environment), and every message taken from `git` is scrubbed
of it before it is shown.
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tandem.errors import Conflict, GitFailed, MergeConflict
from tandem.workspace.files import FileLimits
from tandem.workspace.importing import GitRepository, git_output, last_line, public_url

MAIN = "main"
"""The branch a bundle holds the project's history on."""

PROTECTED = frozenset({"main", "master"})
"""Pushed to only when asked, whatever the remote's default branch is."""

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Tandem",
    "GIT_AUTHOR_EMAIL": "tandem@tandem.invalid",
    "GIT_COMMITTER_NAME": "Tandem",
    "GIT_COMMITTER_EMAIL": "tandem@tandem.invalid",
}

BRANCH = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)(?!.*/\.)(?!\.)[A-Za-z0-9._/-]{1,200}(?<!/)(?<!\.lock)(?<!\.)$")
"""A branch name `git check-ref-format --branch` accepts, in the plain characters people use."""


@dataclass(frozen=True, kw_only=True)
class Credentials:
    token: str
    username: str | None = None

    def header(self) -> str:
        # GitHub takes any user name with a token; "x-access-token" is the one its docs use.
        pair = f"{self.username or 'x-access-token'}:{self.token}"
        return "Authorization: Basic " + base64.b64encode(pair.encode()).decode()


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """A remote as `git` reaches it: its URL, the options that pin its host, its credentials."""

    url: str
    pinned: list[str]
    credentials: Credentials | None = None


@dataclass(frozen=True, kw_only=True)
class Pushed:
    branch: str
    sha: str
    outcome: Literal["created", "updated", "up_to_date"]


@dataclass(frozen=True, kw_only=True)
class MergePlan:
    outcome: Literal["up_to_date", "fast_forward", "merged"]
    tree: str | None
    """The tree the project takes (None when up to date)."""


class SyncRepository(GitRepository):
    """The scratch bare repository the project's history is written into."""

    def __init__(self, scratch: Path, *, protocols: list[str]) -> None:
        super().__init__(scratch, protocols=protocols)
        self._secrets: list[str] = []

    async def init(self) -> None:
        code, _, err = await git_output(["init", "--quiet", "--bare", "-b", MAIN, str(self._dir)], self._env)
        if code != 0:
            raise GitFailed(f"git init failed: {last_line(err)}")

    async def write_objects(self, objects: AsyncIterator[tuple[str, str, bytes]]) -> int:
        """Write the objects as loose objects (what `git hash-object -w` writes); returns how many."""
        batch: list[tuple[str, str, bytes]] = []
        count = 0
        async for item in objects:
            batch.append(item)
            if len(batch) >= 200:
                count += await asyncio.to_thread(self._write_loose, batch)
                batch = []
        return count + await asyncio.to_thread(self._write_loose, batch)

    def _write_loose(self, batch: list[tuple[str, str, bytes]]) -> int:
        for sha, kind, data in batch:
            folder = self._dir / "objects" / sha[:2]
            folder.mkdir(exist_ok=True)
            (folder / sha[2:]).write_bytes(zlib.compress(f"{kind} {len(data)}\0".encode() + data, 1))
        return len(batch)

    def _invocation(self, args: tuple[str, ...], endpoint: Endpoint | None) -> tuple[list[str], dict[str, str]]:
        env = dict(self._env)
        env.update(_IDENTITY)
        options: list[str] = []
        if endpoint is not None:
            # A redirect would lead to a host nobody checked (and carry the header there).
            options = [*endpoint.pinned, "-c", "http.followRedirects=false"]
            if endpoint.credentials is not None:
                header = endpoint.credentials.header()
                env.update(
                    {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": header}
                )
                self._secrets = [endpoint.credentials.token, header.rpartition(" ")[2]]
        return [*options, f"--git-dir={self._dir}", *args], env

    async def git(self, *args: str, endpoint: Endpoint | None = None) -> tuple[int, str, str]:
        """`git` in this repository; exit status, output and error output (scrubbed of credentials)."""
        code, out, err = await git_output(*self._invocation(args, endpoint))
        return code, self.scrub(out.decode(errors="replace")), self.scrub(err.decode(errors="replace"))

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _must(self, *args: str, endpoint: Endpoint | None = None) -> str:
        code, out, err = await self.git(*args, endpoint=endpoint)
        if code != 0:
            where = f" {public_url(endpoint.url)}" if endpoint is not None else ""
            raise GitFailed(f"git {args[0]}{where} failed: {last_line(err.encode())}")
        return out

    async def set_head(self, sha: str) -> None:
        await self._must("update-ref", f"refs/heads/{MAIN}", sha)

    async def bundle(self, target: Path) -> None:
        await self._must("bundle", "create", "--quiet", str(target), "HEAD", f"refs/heads/{MAIN}")

    async def default_branch(self, endpoint: Endpoint) -> str | None:
        """The remote's default branch (what its HEAD names); None for an empty repository. Also
        where an unreachable remote, a missing one or refused credentials are found out."""
        out = await self._must("ls-remote", "--symref", endpoint.url, "HEAD", endpoint=endpoint)
        for line in out.splitlines():
            if line.startswith("ref: refs/heads/"):
                return line.removeprefix("ref: refs/heads/").partition("\t")[0]
        return None

    async def push(self, endpoint: Endpoint, sha: str, branch: str) -> Pushed:
        """Push `sha` to `branch`, never forced: the remote refuses what is not a fast-forward."""
        code, out, err = await self.git(
            "push", "--porcelain", "--no-verify", endpoint.url, f"{sha}:refs/heads/{branch}", endpoint=endpoint
        )
        # Porcelain: "<flag>\t<from>:<to>\t<summary>"; `*` new, ` ` fast-forward, `=` up to date, `!` refused.
        status = next((line for line in out.splitlines() if f":refs/heads/{branch}\t" in line), None)
        if status is None:
            raise GitFailed(f"git push to {public_url(endpoint.url)} failed: {last_line(err.encode())}")
        flag, _, summary = status.split("\t", 2)
        if flag == "!":
            if "non-fast-forward" in summary or "fetch first" in summary:
                raise Conflict(
                    f"branch {branch!r} of {public_url(endpoint.url)} has commits the project does not have; "
                    "Tandem never force-pushes: pull that branch first, or push to a new branch"
                )
            raise GitFailed(f"{public_url(endpoint.url)} refused the push to {branch!r}: {summary}")
        if code != 0:
            raise GitFailed(f"git push to {public_url(endpoint.url)} failed: {last_line(err.encode())}")
        outcome: Literal["created", "updated", "up_to_date"] = (
            "created" if flag == "*" else "up_to_date" if flag == "=" else "updated"
        )
        return Pushed(branch=branch, sha=sha, outcome=outcome)

    async def fetch(self, endpoint: Endpoint, branch: str, limits: FileLimits) -> str:
        """Fetch `branch` of the remote, stopped past twice the project's size limit; its tip's id."""
        ref = "refs/tandem/pulled"
        args = ("fetch", "--no-tags", "--progress", endpoint.url, f"+refs/heads/{branch}:{ref}")
        command, env = self._invocation(args, endpoint)
        code, err = await self.watched(command, env=env, limits=limits, stop=threading.Event(), progress=lambda _: None)
        if code != 0:
            message = self.scrub(last_line(err))
            if "couldn't find remote ref" in message:
                raise GitFailed(f"{public_url(endpoint.url)} has no branch {branch!r}")
            raise GitFailed(f"git fetch of {public_url(endpoint.url)} failed: {message}")
        return (await self._must("rev-parse", ref)).strip()

    async def _is_ancestor(self, older: str, newer: str) -> bool:
        code, _, err = await self.git("merge-base", "--is-ancestor", older, newer)
        if code > 1:
            raise GitFailed(f"git merge-base failed: {last_line(err.encode())}")
        return code == 0

    async def plan_merge(self, ours: str, theirs: str, root: str) -> MergePlan:
        """How `theirs` joins `ours`. Histories that share no commit (a project imported without
        its history, or started from a template) are merged as if both had grown from `root`, the
        project's first commit: what the project started from."""
        if await self._is_ancestor(theirs, ours):
            return MergePlan(outcome="up_to_date", tree=None)
        if await self._is_ancestor(ours, theirs):
            return MergePlan(outcome="fast_forward", tree=(await self._must("rev-parse", f"{theirs}^{{tree}}")).strip())
        code, _, _ = await self.git("merge-base", ours, theirs)
        left, right = ours, theirs
        if code != 0:  # no common commit: graft both onto the project's first files
            base = (await self._must("commit-tree", f"{root}^{{tree}}", "-m", "base")).strip()
            left = (await self._must("commit-tree", f"{ours}^{{tree}}", "-p", base, "-m", "ours")).strip()
            right = (await self._must("commit-tree", f"{theirs}^{{tree}}", "-p", base, "-m", "theirs")).strip()
        code, out, err = await self.git("merge-tree", "--write-tree", "--name-only", "--no-messages", left, right)
        if code == 1:
            conflicted = sorted({line for line in out.splitlines()[1:] if line})
            raise MergeConflict(conflicted)
        if code != 0:
            raise GitFailed(f"git merge-tree failed: {last_line(err.encode())}")
        return MergePlan(outcome="merged", tree=out.splitlines()[0].strip())

    async def new_objects(self, tip: str, known: str) -> list[str]:
        """Ids of the objects reachable from `tip` and not from `known`."""
        out = await self._must("rev-list", "--objects", tip, "--not", known)
        return [line.split(" ", 1)[0] for line in out.splitlines() if line]


def branch_for(name: str, project_id: int) -> str:
    """The new branch a project pushes to by default: `tandem/<its name, as a slug>`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-")
    return f"tandem/{slug or f'project-{project_id}'}"


def is_valid_branch(name: str) -> bool:
    return BRANCH.match(name) is not None and not name.startswith("-") and name != "HEAD"
