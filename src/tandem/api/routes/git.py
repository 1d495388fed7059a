from __future__ import annotations

from fastapi import APIRouter, Response, status

from tandem.api.deps import CurrentUser, Git
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.routes.schemas import Id
from tandem.services.git_sync import PullOut, PushIn, PushOut, RemoteIn, RemoteOut, SyncIn

router = APIRouter(tags=["git"], responses=ERROR_RESPONSES)


@router.get("/projects/{project_id}/git/remote")
async def get_remote(project_id: Id, git: Git, user: CurrentUser) -> RemoteOut | None:
    """The project's saved remote (its token never shown), or null."""
    return await git.remote(user, project_id)


@router.put("/projects/{project_id}/git/remote")
async def save_remote(project_id: Id, body: RemoteIn, git: Git, user: CurrentUser) -> RemoteOut:
    """Save the remote pushes and pulls use when they name none; the token is stored encrypted."""
    return await git.save_remote(user, project_id, body)


@router.delete("/projects/{project_id}/git/remote", status_code=status.HTTP_204_NO_CONTENT)
async def forget_remote(project_id: Id, git: Git, user: CurrentUser) -> Response:
    await git.forget_remote(user, project_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/projects/{project_id}/git/push")
async def push(project_id: Id, body: PushIn, git: Git, user: CurrentUser) -> PushOut:
    """Push the project's history to a branch of the remote: a new branch `tandem/<project>` by
    default; never forced (409 when the branch has commits the project lacks); the remote's default
    branch only with `allow_default_branch`."""
    return await git.push(user, project_id, body)


@router.post("/projects/{project_id}/git/pull")
async def pull(project_id: Id, body: SyncIn, git: Git, user: CurrentUser) -> PullOut:
    """Fetch a branch of the remote (its default branch if none is named) and merge it into the
    project as a new commit when it merges cleanly; 409 naming the conflicting files otherwise
    (nothing changes), and during a run."""
    return await git.pull(user, project_id, body)
