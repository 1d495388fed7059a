"""Request dependencies: the container's parts, and who is calling, injected into routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.container import Container
from tandem.errors import Forbidden, Unauthorized
from tandem.services.accounts import LOCAL, Accounts
from tandem.services.chat import ChatService
from tandem.services.git_sync import GitSync
from tandem.services.imports import Importer
from tandem.services.model_settings import ModelSettings
from tandem.services.principal import Principal
from tandem.settings import Settings

SESSION_COOKIE = "tandem_session"
API_PREFIX = "/api/v1"


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return get_container(request).sessions


def get_chat(request: Request) -> ChatService:
    return get_container(request).chat


def get_imports(request: Request) -> Importer:
    return get_container(request).imports


def get_git(request: Request) -> GitSync:
    return get_container(request).git


def get_model_settings(request: Request) -> ModelSettings:
    return get_container(request).model_settings


def get_settings(request: Request) -> Settings:
    return get_container(request).settings


def get_accounts(request: Request) -> Accounts:
    return get_container(request).accounts


def client_address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _presented_secret(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("the Authorization header must be `Bearer <token>`")
        return secret.strip()
    return request.cookies.get(SESSION_COOKIE)


async def current_user(request: Request) -> Principal:
    """The identity seam: every route that touches data takes the caller from here. With
    TANDEM_AUTH=none that is always the implicit local admin (loopback only, see `tandem serve`)."""
    container = get_container(request)
    if container.settings.auth == "none":
        return LOCAL
    secret = _presented_secret(request)
    user = await container.accounts.authenticate(secret) if secret else None
    if user is None:
        raise Unauthorized(
            "sign in first (POST /api/v1/auth/login), or send `Authorization: Bearer <token>` with an API token"
        )
    return user


async def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not user.is_admin:
        raise Forbidden("only an admin may do this")
    return user


Database = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
Chat = Annotated[ChatService, Depends(get_chat)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
CurrentContainer = Annotated[Container, Depends(get_container)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
Address = Annotated[str | None, Depends(client_address)]
Imports = Annotated[Importer, Depends(get_imports)]
Git = Annotated[GitSync, Depends(get_git)]
ModelSettingsDep = Annotated[ModelSettings, Depends(get_model_settings)]
