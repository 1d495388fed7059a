"""Request and response bodies of the HTTP API (the stream's events live in `tandem.events`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tandem.events import Usage


class ProjectCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    template: str = "blank"


class ProjectRename(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class ProjectOut(BaseModel):
    id: int
    name: str
    template: str
    created_at: datetime
    updated_at: datetime
    active_run_id: str | None = None


class TemplateOut(BaseModel):
    id: str
    name: str
    description: str


class FileInfoOut(BaseModel):
    path: str
    size: int
    updated_at: datetime


class FileContentOut(FileInfoOut):
    content: str


class FileWrite(BaseModel):
    content: str


class FileRename(BaseModel):
    path: str = Field(description="The new path, relative to the project root.")


class ChatRequest(BaseModel):
    message: str = Field(description="The user's request; must not be empty.")
    session_id: int | None = Field(default=None, description="Continue this session; a new one when null.")


class RunOut(BaseModel):
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


class HealthOut(BaseModel):
    status: str
    version: str
    models: ModelsOut
