"""Request dependencies: the container's parts, injected into routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.container import Container
from tandem.runs.manager import RunManager
from tandem.services.chat import ChatService
from tandem.services.imports import Importer
from tandem.settings import Settings

API_PREFIX = "/api/v1"


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return get_container(request).sessions


def get_runs(request: Request) -> RunManager:
    return get_container(request).runs


def get_chat(request: Request) -> ChatService:
    return get_container(request).chat


def get_imports(request: Request) -> Importer:
    return get_container(request).imports


def get_settings(request: Request) -> Settings:
    return get_container(request).settings


Database = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
Runs = Annotated[RunManager, Depends(get_runs)]
Chat = Annotated[ChatService, Depends(get_chat)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
Imports = Annotated[Importer, Depends(get_imports)]
