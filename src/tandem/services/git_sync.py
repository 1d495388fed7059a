"""Pushing a project's history to a Git remote, pulling a remote branch into it, and its bundle.

Push goes to a new branch by default (`tandem/<project>`), is never forced, and reaches the
remote's default branch (or `main`/`master`) only when asked, as a fast-forward. Pull fetches a
branch and, when it joins the project's files without conflict (a fast-forward or a clean
three-way merge), writes the merged files into the project and commits them with the pulled
commit as second parent, so the next push is a fast-forward; on a conflict nothing changes.

The same guards as a Git import: allowed schemes only (TANDEM_IMPORT_GIT_PROTOCOLS), `file://` for
admins only, the host resolved, checked (internal addresses for admins or with
TANDEM_IMPORT_GIT_INTERNAL_HOSTS) and pinned, no redirects. A saved remote's token is sealed with
the server's secret key (`SecretBox`) and never returned; a token given with one request is used
for that request and kept nowhere.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Conflict, Forbidden, GitFailed, ImportFailed, InvalidInput, TooLarge
from tandem.persistence.models import Project, ProjectCommit, ProjectRemote
from tandem.services import access, audit, projects
from tandem.services.model_settings import ApiKey
from tandem.services.principal import Principal
from tandem.services.secrets import SecretBox, SecretUnreadable
from tandem.workspace import git_history, importing
from tandem.workspace.files import FileLimits
from tandem.workspace.git_sync import (
    PROTECTED,
    Credentials,
    Endpoint,
    SyncRepository,
    branch_for,
    is_valid_branch,
)


def _git_url(value: str) -> str:
    if any(c.isspace() for c in value):
        raise ValueError("must be one URL without spaces")
    try:
        parts = urlsplit(value)
    except ValueError as error:
        raise ValueError(f"is malformed: {error}") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or token: put the token in the token field")
    return value


def _branch(value: str) -> str:
    if not is_valid_branch(value):
        raise ValueError("is not a branch name Git accepts (letters, digits, `.`, `_`, `-`, `/`)")
    return value


GitUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_git_url)]
Branch = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_branch)]
UserName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\s:]+$")]


class RemoteIn(BaseModel):
    """The remote saved for a project."""

    model_config = ConfigDict(extra="forbid")

    url: GitUrl = Field(description="The repository's URL, such as https://github.com/you/app.git (no credentials).")
    username: UserName | None = Field(default=None, description="For the token; most hosts take any name.")
    token: ApiKey | None = Field(default=None, description="A new access token (write-only); null keeps the saved one.")
    forget_token: StrictBool = Field(default=False, description="Remove the saved token.")

    @model_validator(mode="after")
    def _one_token_change(self) -> RemoteIn:
        if self.token is not None and self.forget_token:
            raise ValueError("send either a new token or forget_token, not both")
        return self


class RemoteOut(BaseModel):
    url: str
    username: str | None
    token_set: bool
    token_readable: bool = Field(description="False when the server's secret key changed since it was saved.")


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: GitUrl | None = Field(default=None, description="The repository's URL; null: the project's saved remote.")
    branch: Branch | None = Field(default=None, description="The remote branch; null: see each operation.")
    username: UserName | None = None
    token: ApiKey | None = Field(
        default=None, description="Used for this request only; null: the saved remote's token (same URL only)."
    )


class PushIn(SyncIn):
    allow_default_branch: StrictBool = Field(
        default=False,
        description="Allow pushing to the remote's default branch (or main/master); still only as a fast-forward.",
    )


class PushOut(BaseModel):
    url: str
    branch: str = Field(description="The remote branch pushed to; by default a new one, `tandem/<project>`.")
    sha: str = Field(description="The project's commit now at the branch's tip.")
    outcome: Literal["created", "updated", "up_to_date"]


class PullOut(BaseModel):
    url: str
    branch: str
    remote_sha: str = Field(description="The remote branch's tip that was pulled.")
    outcome: Literal["up_to_date", "fast_forward", "merged"]
    commit_sha: str | None = Field(description="The project's new commit (null when it was up to date).")


GIT_ACTIONS = ("project.push", "project.pull")


@dataclass(frozen=True, kw_only=True)
class GitPolicy:
    files: FileLimits
    protocols: list[str]
    internal_hosts: bool
    per_minute: int
    """Pushes and pulls one user may start per minute (TANDEM_IMPORTS_PER_MINUTE)."""


class GitSync:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: GitPolicy,
        scratch_root: Path,
        box: Callable[[], SecretBox],
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._box = box
        owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._scratch = importing.ScratchSpace(scratch_root, owner)
        self._reaped = False

    def _new_scratch(self) -> Path:
        if not self._reaped:
            self._scratch.reap()
            self._reaped = True
        return self._scratch.new()

    def _repository(self, scratch: Path) -> SyncRepository:
        return SyncRepository(scratch, protocols=self._policy.protocols)

    # The saved remote

    async def remote(self, user: Principal, project_id: int) -> RemoteOut | None:
        async with self._sessions() as session:
            await access.require(session, user, project_id, "read")
            row = await session.get(ProjectRemote, project_id)
            return self._remote_out(row) if row is not None else None

    async def save_remote(self, user: Principal, project_id: int, new: RemoteIn) -> RemoteOut:
        async with self._sessions.begin() as session:
            await access.require(session, user, project_id, "owner")
            row = await session.get(ProjectRemote, project_id, with_for_update=True)
            if row is None:
                row = ProjectRemote(project_id=project_id, url=new.url)
                session.add(row)
            elif row.url != new.url and new.token is None:
                row.token = None  # a token is for the host it was given for
            row.url = new.url
            row.username = new.username
            if new.token is not None:
                row.token = self._box().seal(new.token)
            elif new.forget_token:
                row.token = None
            await audit.record(session, user, "project.remote", f"project {project_id}: {new.url}")
            await session.flush()
            return self._remote_out(row)

    async def forget_remote(self, user: Principal, project_id: int) -> None:
        async with self._sessions.begin() as session:
            await access.require(session, user, project_id, "owner")
            row = await session.get(ProjectRemote, project_id)
            if row is not None:
                await session.delete(row)
                await audit.record(session, user, "project.remote", f"project {project_id}: forgotten")

    def _remote_out(self, row: ProjectRemote) -> RemoteOut:
        return RemoteOut(
            url=row.url,
            username=row.username,
            token_set=row.token is not None,
            token_readable=row.token is None or self._token(row) is not None,
        )

    def _token(self, row: ProjectRemote) -> str | None:
        if row.token is None:
            return None
        try:
            return self._box().open(row.token)
        except SecretUnreadable:
            return None

    async def _endpoint(self, session: AsyncSession, user: Principal, project_id: int, given: SyncIn) -> Endpoint:
        saved = await session.get(ProjectRemote, project_id)
        url = given.url or (saved.url if saved is not None else None)
        if url is None:
            raise InvalidInput("url: give the repository's URL, or save a remote for the project first")
        importing.check_git_url(url, self._policy.protocols)
        if urlsplit(url).scheme == "file" and not user.is_admin:
            raise Forbidden("a file:// repository is on the server's own disk: only an admin may use one")
        try:
            pinned = await importing.resolve_git_host(url, allow_internal=user.is_admin or self._policy.internal_hosts)
        except ImportFailed as error:
            raise GitFailed(error.message) from None
        token, username = given.token, given.username
        if token is None and saved is not None and saved.url == url:
            token, username = self._token(saved), username or saved.username
            if saved.token is not None and token is None:
                raise InvalidInput(
                    "token: the saved token cannot be read (the server's secret key changed); save it again"
                )
        credentials = Credentials(token=token, username=username) if token is not None else None
        return Endpoint(url=url, pinned=pinned, credentials=credentials)

    async def _export(self, repository: SyncRepository, project_id: int, head: str) -> None:
        await repository.init()
        async with self._sessions() as session:
            await repository.write_objects(git_history.all_objects(session, project_id))
        await repository.set_head(head)

    async def _prepare(
        self, user: Principal, project_id: int, given: SyncIn | None, action: str | None = None
    ) -> tuple[Project, Endpoint | None, str, str]:
        """Check access, count the attempt, commit pending edits; the project, where to reach, its
        head and first commit."""
        if given is not None and action is not None:
            # Counted and audited as attempts, refused ones too: each may make the server reach a host.
            async with self._sessions.begin() as session:
                await access.require(session, user, project_id, "write")
                await audit.throttle(
                    session,
                    action=GIT_ACTIONS,
                    limit=self._policy.per_minute,
                    setting="TANDEM_IMPORTS_PER_MINUTE",
                    what="Git pushes and pulls by you",
                    user_id=user.id,
                )
                where = importing.public_url(given.url) if given.url else "its saved remote"
                await audit.record(session, user, action, f"project {project_id} with {where}")
        async with self._sessions.begin() as session:
            await access.require(session, user, project_id, "read" if given is None else "write")
            endpoint = await self._endpoint(session, user, project_id, given) if given is not None else None
        async with self._sessions.begin() as session:
            await git_history.commit_edits(session, project_id)
        async with self._sessions() as session:
            project = await session.get(Project, project_id)
            head = await git_history.head(session, project_id)
            root = await session.scalar(
                select(ProjectCommit.sha)
                .where(ProjectCommit.project_id == project_id)
                .order_by(ProjectCommit.id)
                .limit(1)
            )
            if project is None or head is None or root is None:
                raise Conflict(f"project {project_id} was deleted meanwhile")
            return project, endpoint, head.sha, root

    # Bundle

    async def bundle(self, user: Principal, project_id: int) -> AsyncIterator[bytes]:
        """A Git bundle of the project's history (branch `main`, and HEAD), made now and then streamed;
        its scratch folder goes once it is sent, or once the sending stops."""
        _, _, head, _ = await self._prepare(user, project_id, None)
        scratch = self._new_scratch()
        try:
            repository = self._repository(scratch)
            await self._export(repository, project_id, head)
            target = scratch / "project.bundle"
            await repository.bundle(target)
        except BaseException:
            importing.remove_scratch(scratch)
            raise

        async def send() -> AsyncIterator[bytes]:
            try:
                with target.open("rb") as file:
                    while chunk := await asyncio.to_thread(file.read, 256 * 1024):
                        yield chunk
            finally:
                await asyncio.to_thread(importing.remove_scratch, scratch)

        return send()

    # Push

    async def push(self, user: Principal, project_id: int, given: PushIn) -> PushOut:
        project, endpoint, head, _ = await self._prepare(user, project_id, given, "project.push")
        assert endpoint is not None
        branch = given.branch or branch_for(project.name, project_id)
        scratch = self._new_scratch()
        try:
            repository = self._repository(scratch)
            await self._export(repository, project_id, head)
            default = await repository.default_branch(endpoint)
            if (branch == default or branch in PROTECTED) and not given.allow_default_branch:
                raise InvalidInput(
                    f"branch: {branch!r} is the remote's default or main branch; push to a new branch (the default, "
                    f"{branch_for(project.name, project_id)!r}), or set allow_default_branch (a fast-forward only)"
                )
            pushed = await repository.push(endpoint, head, branch)
        finally:
            importing.remove_scratch(scratch)
        return PushOut(url=endpoint.url, branch=branch, sha=head, outcome=pushed.outcome)

    # Pull

    async def pull(self, user: Principal, project_id: int, given: SyncIn) -> PullOut:
        _, endpoint, head, root = await self._prepare(user, project_id, given, "project.pull")
        assert endpoint is not None
        async with self._sessions() as session:
            await projects.require_idle(session, project_id, "pulling")
        scratch = self._new_scratch()
        try:
            repository = self._repository(scratch)
            await self._export(repository, project_id, head)
            branch = given.branch or await repository.default_branch(endpoint)
            if branch is None:
                raise GitFailed(f"{endpoint.url} is empty: it has no branch to pull")
            theirs = await repository.fetch(endpoint, branch, self._policy.files)
            plan = await repository.plan_merge(head, theirs, root)
            if plan.tree is None:
                return PullOut(
                    url=endpoint.url, branch=branch, remote_sha=theirs, outcome="up_to_date", commit_sha=None
                )
            picked, _ = await repository.pick(self._policy.files, plan.tree)
            wanted = {item.path: item.source for item in picked}
            needed = sorted(set(await repository.new_objects(theirs, head)) | set(wanted.values()))
            objects: dict[str, tuple[str, bytes]] = {}
            total = 0
            limit = 2 * self._policy.files.max_project_bytes
            async for batch in repository.objects([needed[at : at + 500] for at in range(0, len(needed), 500)]):
                for sha, kind, data in batch:
                    total += len(data)
                    if total > limit:
                        raise TooLarge(
                            f"the pulled history is larger than {limit} bytes, twice the limit per project "
                            "(TANDEM_MAX_PROJECT_BYTES)"
                        )
                    objects[sha] = (kind, data)
        finally:
            importing.remove_scratch(scratch)
        async with self._sessions.begin() as session:
            # Locked as a batched commit locks it: no run starts, no other commit lands meanwhile.
            if await session.get(Project, project_id, with_for_update=True) is None:
                raise Conflict(f"project {project_id} was deleted meanwhile")
            await projects.require_idle(session, project_id, "pulling")
            # An edit saved while the pull worked moves the head here (rolled back with the refusal).
            await git_history.commit_edits(session, project_id)
            now = await git_history.head(session, project_id)
            if now is None or now.sha != head:
                raise Conflict(f"project {project_id} changed while pulling; pull again")
            await git_history.store_objects(session, project_id, objects)
            await git_history.checkout(session, project_id, wanted)
            url = importing.public_url(endpoint.url)
            made = await git_history.commit(
                session,
                project_id,
                kind="pull",
                message=f"Pull {branch} of {url} ({theirs[:12]})",
                author=git_history.EDITOR,
                merged=theirs,
            )
            assert made is not None  # a merge always commits
        return PullOut(url=endpoint.url, branch=branch, remote_sha=theirs, outcome=plan.outcome, commit_sha=made.sha)
