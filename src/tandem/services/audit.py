"""The audit trail, and the per-minute limits that count it.

Every action worth auditing is also what the per-user rate limits count (runs started, downloads,
failed sign-ins), so the limits hold across processes without a store of their own: they read the
same table every process writes. Two requests checked at the same instant may both pass, so a
burst can exceed a limit by the number of requests in flight; the next one is refused.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import RateLimited
from tandem.persistence.models import AuditEvent
from tandem.services.principal import Principal

WINDOW = timedelta(minutes=1)


async def record(
    session: AsyncSession,
    user: Principal | None,
    action: str,
    target: str,
    *,
    actor: str | None = None,
    address: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        user_id=user.id if user is not None else None,
        actor=(actor if actor is not None else user.name if user is not None else "")[:100],
        action=action,
        target=target[:300],
        address=address,
    )
    session.add(event)
    await session.flush()
    return event


async def throttle(
    session: AsyncSession,
    *,
    action: str | tuple[str, ...],
    limit: int,
    setting: str,
    what: str,
    user_id: int | None = None,
    actor: str | None = None,
    address: str | None = None,
) -> None:
    """Refuse with 429 when the last minute already holds `limit` `action` events (any of them, for
    several) of this user (or of this name or address); `Retry-After` is when the oldest of them
    leaves the window."""
    since = datetime.now(UTC) - WINDOW
    who: list[ColumnElement[bool]] = []
    if user_id is not None:
        who.append(AuditEvent.user_id == user_id)
    if actor is not None:
        who.append(AuditEvent.actor == actor[:100])
    if address is not None:
        who.append(AuditEvent.address == address)
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(AuditEvent.at)).where(
                AuditEvent.action.in_((action,) if isinstance(action, str) else action),
                AuditEvent.at > since,
                or_(*who),
            )
        )
    ).one()
    if count < limit:
        return
    if oldest.tzinfo is None:  # SQLite gives the aggregate back without its offset
        oldest = oldest.replace(tzinfo=UTC)
    wait = max(1, math.ceil((oldest - since).total_seconds()))
    raise RateLimited(f"{count} {what} in the last minute; the limit is {limit} ({setting})", retry_after=wait)


async def page(session: AsyncSession, *, limit: int, offset: int, action: str | None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(await session.scalars(query))
