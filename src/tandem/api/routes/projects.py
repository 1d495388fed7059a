from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, unquote_to_bytes

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from tandem.api.deps import API_PREFIX, CurrentSettings, CurrentUser, Database, Git, Imports
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.limits import ARCHIVE_TYPES, media_type
from tandem.api.routes.schemas import (
    FileContentOut,
    FileInfoOut,
    FileRename,
    FileWrite,
    Id,
    ImportOut,
    ProjectCreate,
    ProjectOut,
    ProjectRename,
    ShareIn,
    ShareOut,
    TemplateOut,
    Text,
    UserName,
)
from tandem.errors import InvalidInput
from tandem.persistence.models import INT_MAX
from tandem.services import access, projects
from tandem.services.imports import GitSource, ImportStatus
from tandem.workspace.files import ProjectFiles

router = APIRouter(tags=["projects"], responses=ERROR_RESPONSES)

MAX_PAGE = 1000


def _url_path(request: Request, path: str) -> str:
    """The file path of a files URL. The server decodes percent-escapes that are not UTF-8 (such as
    an encoded lone surrogate) to U+FFFD: refused, or the file would get a name nobody sent."""
    try:
        unquote_to_bytes(request.scope.get("raw_path") or b"").decode()
    except UnicodeDecodeError:
        raise InvalidInput("the URL's percent-escapes are not UTF-8") from None
    return path


FilePath = Annotated[str, Depends(_url_path)]


@router.get("/templates")
async def list_templates() -> list[TemplateOut]:
    return [TemplateOut.model_validate(t) for t in projects.templates()]


_CREATE_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ProjectCreate"}},
        **{
            kind: {"schema": {"type": "string", "format": "binary"}} for kind in ("application/zip", "application/gzip")
        },
    },
}


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectOut,
    openapi_extra={"requestBody": _CREATE_BODY},
    responses={
        202: {
            "model": ImportOut,
            "description": "An import (a `source`, or an uploaded archive) has started: poll `GET /imports/{id}`",
        }
    },
)
async def create_project(
    request: Request,
    db: Database,
    settings: CurrentSettings,
    imports: Imports,
    user: CurrentUser,
    name: Annotated[
        Text | None,
        Query(min_length=1, max_length=200, description="The new project's name, when the body is an archive."),
    ] = None,
) -> Response:
    """From a template (JSON body), a Git repository (JSON body with `source`), or an uploaded zip
    or tar.gz (the body itself, streamed to disk, never held in memory)."""
    kind = media_type(request.headers.get("content-type", "application/json"))
    if kind in ARCHIVE_TYPES:
        if name is None:
            raise InvalidInput("name: an uploaded archive needs the project's name in the query (?name=...)")
        return _accepted(await imports.upload(user, name, request.stream()))
    if kind != "application/json":
        raise InvalidInput(f"content type {kind!r}: send JSON, or a zip or tar.gz archive")
    try:
        body = ProjectCreate.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    if body.source is not None:
        source = GitSource(url=body.source.url, ref=body.source.ref, depth=body.source.depth)
        return _accepted(await imports.start(user, body.name, source, imports.scratch()))
    async with db.begin() as session:
        project = await projects.create(
            session, user, body.name, body.template, limits=projects.ProjectLimits.of(settings)
        )
        created = ProjectOut.model_validate(await projects.view(session, user, project.id))
    return JSONResponse(created.model_dump(mode="json"), status_code=status.HTTP_201_CREATED)


def _accepted(job: ImportStatus) -> JSONResponse:
    return JSONResponse(
        ImportOut.model_validate(job).model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": f"{API_PREFIX}/imports/{job.id}"},
    )


@router.get(
    "/projects",
    responses={200: {"headers": {"X-Total-Count": {"description": "How many projects there are in all."}}}},
)
async def list_projects(
    db: Database,
    user: CurrentUser,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Projects per page, at most {MAX_PAGE}.")] = 100,
    # Bounded like the ids: there are never more projects than `integer` ids, and an offset past
    # 2^63-1 is an error in both databases.
    offset: Annotated[int, Query(ge=0, le=INT_MAX, description="Projects to skip, newest first.")] = 0,
) -> list[ProjectOut]:
    async with db() as session:
        page = await projects.list_page(session, user, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(page.total)
    return [ProjectOut.model_validate(view) for view in page.projects]


@router.get("/projects/{project_id}")
async def get_project(project_id: Id, db: Database, user: CurrentUser) -> ProjectOut:
    async with db() as session:
        return ProjectOut.model_validate(await projects.view(session, user, project_id))


@router.patch("/projects/{project_id}")
async def rename_project(project_id: Id, body: ProjectRename, db: Database, user: CurrentUser) -> ProjectOut:
    async with db.begin() as session:
        return ProjectOut.model_validate(await projects.rename(session, user, project_id, body.name))


@router.delete("/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(project_id: Id, db: Database, user: CurrentUser) -> Response:
    async with db.begin() as session:
        await projects.delete_owned(session, user, project_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/projects/{project_id}/shares", tags=["sharing"])
async def list_shares(project_id: Id, db: Database, user: CurrentUser) -> list[ShareOut]:
    async with db() as session:
        return [ShareOut(user=name, role=role) for name, role in await projects.shares(session, user, project_id)]


@router.put("/projects/{project_id}/shares/{user_name}", tags=["sharing"])
async def share_project(
    project_id: Id, user_name: UserName, body: ShareIn, db: Database, user: CurrentUser
) -> ShareOut:
    """Give another user read or write access (the owner only)."""
    async with db.begin() as session:
        await projects.share(session, user, project_id, user_name, body.role)
    return ShareOut(user=user_name, role=body.role)


@router.delete("/projects/{project_id}/shares/{user_name}", tags=["sharing"], status_code=status.HTTP_204_NO_CONTENT)
async def unshare_project(project_id: Id, user_name: UserName, db: Database, user: CurrentUser) -> Response:
    async with db.begin() as session:
        await projects.unshare(session, user, project_id, user_name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _files_access(need: access.Role) -> DependsParam:
    async def files(db: Database, settings: CurrentSettings, user: CurrentUser, project_id: Id) -> ProjectFiles:
        return await projects.files(db, user, project_id, need, settings)

    return DependsParam(files)


ReadableFiles = Annotated[ProjectFiles, _files_access("read")]
WritableFiles = Annotated[ProjectFiles, _files_access("write")]


@router.get("/projects/{project_id}/files")
async def list_files(project_id: Id, files: ReadableFiles) -> list[FileInfoOut]:
    return [FileInfoOut.model_validate(info) for info in await files.list_files()]


@router.get("/projects/{project_id}/files/{path:path}")
async def read_file(project_id: Id, path: FilePath, files: ReadableFiles) -> FileContentOut:
    return FileContentOut.model_validate(await files.read(path))


@router.put("/projects/{project_id}/files/{path:path}")
async def write_file(project_id: Id, path: FilePath, body: FileWrite, files: WritableFiles) -> FileInfoOut:
    info, _ = await files.write(path, body.content)
    return FileInfoOut.model_validate(info)


@router.patch("/projects/{project_id}/files/{path:path}")
async def rename_file(project_id: Id, path: FilePath, body: FileRename, files: WritableFiles) -> FileInfoOut:
    return FileInfoOut.model_validate(await files.rename(path, body.path))


@router.delete("/projects/{project_id}/files/{path:path}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_file(project_id: Id, path: FilePath, files: WritableFiles) -> Response:
    await files.delete(path)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/projects/{project_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The project's files as a zip"}},
)
async def download_project(
    project_id: Id, db: Database, settings: CurrentSettings, user: CurrentUser
) -> StreamingResponse:
    export = await projects.export(db, user, project_id, per_minute=settings.downloads_per_minute)
    return StreamingResponse(
        export.zip, media_type="application/zip", headers={"Content-Disposition": _attachment(f"{export.name}.zip")}
    )


@router.get(
    "/projects/{project_id}/download.bundle",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-git-bundle": {}}, "description": "The project's history"}},
)
async def download_bundle(
    project_id: Id, db: Database, git: Git, settings: CurrentSettings, user: CurrentUser
) -> StreamingResponse:
    """The project's history as a Git bundle (`git clone project.bundle`): branch `main` and HEAD."""
    project = await projects.count_export(db, user, project_id, per_minute=settings.downloads_per_minute)
    bundle = await git.bundle(user, project_id)
    return StreamingResponse(
        bundle,
        media_type="application/x-git-bundle",
        headers={"Content-Disposition": _attachment(f"{project.name}.bundle")},
    )


def _attachment(filename: str) -> str:
    """RFC 6266: the name in UTF-8 (`filename*`) and an ASCII stand-in for old clients (headers are Latin-1)."""
    readable = "".join("-" if c in '/\\"' or not c.isprintable() else c for c in filename)
    stem, _, extension = readable.rpartition(".")
    ascii_stem = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in stem).strip("-")
    fallback = f"{ascii_stem or 'project'}.{extension}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(readable, safe='')}"
