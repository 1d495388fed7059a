"""What only admins do: create users, read the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from tandem.api.deps import AdminUser, Database
from tandem.api.errors import ERROR_RESPONSES
from tandem.api.routes.schemas import AuditEventOut, Text, UserCreate, UserOut
from tandem.persistence.models import INT_MAX
from tandem.services import accounts, audit

router = APIRouter(tags=["admin"], responses=ERROR_RESPONSES)


@router.get("/users")
async def list_users(_: AdminUser, db: Database) -> list[UserOut]:
    async with db() as session:
        return [UserOut.model_validate(user) for user in await accounts.list_users(session)]


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, admin: AdminUser, db: Database) -> UserOut:
    async with db.begin() as session:
        user = await accounts.create_user(session, body.name, body.password, is_admin=body.is_admin)
        await audit.record(session, admin, "user.create", f"user {user.name}{' (admin)' if user.is_admin else ''}")
        return UserOut.model_validate(user)


@router.get("/audit")
async def list_audit(
    _: AdminUser,
    db: Database,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page, newest first.")] = 100,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
    action: Annotated[Text | None, Query(max_length=40, description="Only this action, e.g. `run.start`.")] = None,
) -> list[AuditEventOut]:
    """Who signed in, started, cancelled, reverted, exported, shared or deleted what, and when."""
    async with db() as session:
        return [
            AuditEventOut.model_validate(e)
            for e in await audit.page(session, limit=limit, offset=offset, action=action)
        ]
