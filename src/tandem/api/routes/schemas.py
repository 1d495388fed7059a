"""Request and response bodies of the HTTP API (the stream's events live in `tandem.events`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from tandem.events import Usage
from tandem.persistence.models import BIGINT_MAX, INT_MAX
from tandem.settings import AuthMode

# Every integer the API takes is bounded by the column it is looked up in, so an id no column can
# hold is a 422 before any query (asyncpg and sqlite3 raise on out-of-range integers).
Id = Annotated[int, Field(ge=1, le=INT_MAX, description="An id (`integer` column: at most 2^31-1).")]
ChangeId = Annotated[int, Field(ge=1, le=BIGINT_MAX, description="A code change id (`bigint` column).")]
Seq = Annotated[int, Field(ge=0, le=INT_MAX, description="An event seq.")]


def _storable(text: str) -> str:
    # PostgreSQL refuses NUL in text; SQLite would store it, but refusing it on both keeps the API the
    # same whichever database is behind it. A lone surrogate (JSON allows `"\\ud800"`) is no text at
    # all: no database, JSON encoder or UTF-8 writer takes it.
    if "\x00" in text:
        raise ValueError("contains a NUL character (\\u0000), which cannot be stored")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise ValueError("contains a lone surrogate (\\ud800-\\udfff), which is not Unicode text") from None
    return text


Text = Annotated[str, AfterValidator(_storable)]
"""Any text the API takes: everything it stores, and anything it looks up in the database."""


class Out(BaseModel):
    """A response body: read from the attributes of the row or view it shows (`Out.model_validate(row)`)."""

    model_config = ConfigDict(from_attributes=True)


def _not_an_option(text: str) -> str:
    if text.startswith("-"):
        raise ValueError("must not start with '-'")
    return text


class GitSourceIn(BaseModel):
    """Import a Git repository: its files at a branch or tag, without its `.git`."""

    type: Literal["git"] = "git"
    url: Annotated[Text, AfterValidator(_not_an_option)] = Field(
        min_length=1, max_length=2000, description="https://, http:// or file:// (TANDEM_IMPORT_GIT_PROTOCOLS)."
    )
    ref: Annotated[Text, AfterValidator(_not_an_option)] | None = Field(
        default=None, min_length=1, max_length=250, description="A branch or tag; the default branch if null."
    )
    depth: int | None = Field(
        default=1, ge=1, le=INT_MAX, description="Commits to fetch (shallow clone); null for the whole history."
    )


class ProjectCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    template: str = "blank"
    source: GitSourceIn | None = Field(
        default=None,
        description="Import instead of a template: the answer is then 202 with an import job to poll. "
        "(An archive is uploaded as the body itself: `Content-Type: application/zip` or `application/gzip`.)",
    )


class ImportOut(Out):
    id: str
    name: str
    source: str = Field(description="git, archive or folder")
    status: str = Field(description="running, completed, failed or cancelled")
    phase: str = Field(description="queued, cloning, unpacking, listing, storing, done")
    files_done: int
    files_total: int | None
    bytes_done: int
    project_id: int | None = Field(description="The new project, once the import has completed.")
    skipped: int = Field(description="Symbolic links and submodules left out.")
    binary_files: int
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class ProjectRename(BaseModel):
    name: Text = Field(min_length=1, max_length=200)


class ProjectOut(Out):
    id: int
    name: str
    template: str
    created_at: datetime
    updated_at: datetime
    active_run_id: str | None = None
    owner: str = Field(description="The owner's user name.")
    role: Literal["owner", "write", "read"] = Field(description="What the caller may do with the project.")


UserName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class ShareIn(BaseModel):
    role: Literal["read", "write"]


class ShareOut(Out):
    user: str
    role: str


class LoginIn(BaseModel):
    name: UserName
    password: Text = Field(min_length=1, max_length=1024)


class UserOut(Out):
    id: int
    name: str
    is_admin: bool


class MeOut(UserOut):
    auth: AuthMode = Field(description="The server's TANDEM_AUTH.")


class UserCreate(BaseModel):
    name: UserName
    password: Text = Field(min_length=8, max_length=1024)
    is_admin: StrictBool = False


class TokenCreate(BaseModel):
    name: Text = Field(min_length=1, max_length=100, description="What the token is for, to recognise it later.")


class TokenOut(Out):
    id: int
    name: str
    created_at: datetime


class TokenCreated(TokenOut):
    token: str = Field(description="Send as `Authorization: Bearer <token>`. Shown this once; only a hash is kept.")


class AuditEventOut(Out):
    id: int
    at: datetime
    user_id: int | None
    actor: str
    action: str
    target: str
    address: str | None


class TemplateOut(Out):
    id: str
    name: str
    description: str


class FileInfoOut(Out):
    path: str
    size: int
    updated_at: datetime
    binary: bool = Field(
        default=False,
        description="Not text (imported): downloaded with the project, not editable, not shown to the agents.",
    )


class FileContentOut(FileInfoOut):
    content: str


class FileWrite(BaseModel):
    content: Text


class FileRename(BaseModel):
    path: Text = Field(description="The new path, relative to the project root.")


class ChatRequest(BaseModel):
    message: Text = Field(description="The user's request; must not be empty.")
    session_id: Id | None = Field(default=None, description="Continue this session; a new one when null.")


class RunOut(Out):
    id: str
    project_id: int
    session_id: int
    user_message_id: int
    assistant_message_id: int
    status: str = Field(description="running, completed, failed, cancelled or interrupted")
    error_code: str | None
    error_message: str | None
    last_seq: int
    usage: dict[str, Usage]
    created_at: datetime
    finished_at: datetime | None


class ModelsOut(BaseModel):
    planner: str | None
    coder: str | None
    configured: bool
    scripted: bool
    hint: str | None


class SandboxOut(Out):
    available: bool = Field(description="Whether the Coder can run commands (`run_command`) on this server.")
    detail: str = Field(description="What isolates the commands, or why they cannot run and how to fix it.")


class HealthOut(BaseModel):
    status: str
    version: str
    models: ModelsOut
    sandbox: SandboxOut


class CommitFileOut(Out):
    path: str
    change_type: str = Field(description="created, modified or deleted")
    diff: str = Field(description="Unified diff against the parent commit; one line for a binary file.")


class CommitOut(Out):
    sha: str = Field(description="The Git commit id (SHA-1), the same `git` computes for these objects.")
    parent_sha: str | None
    kind: str = Field(
        description="initial, edits (batched edits outside runs), run, revert, restore or pull (a remote branch "
        "merged in)"
    )
    run_id: str | None
    message: str
    author: str
    committer: str
    committed_at: datetime
    files: list[CommitFileOut]
