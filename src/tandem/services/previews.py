"""Preview links: a project's pages, served on the preview origin to whoever holds the link.

A link carries a sealed (encrypted and authenticated, `SecretBox`) note of who opened it and for
which project, and works for `TANDEM_PREVIEW_MINUTES`. The preview origin never sees the app's
sign-in: each request is checked against the access the link's user still has, so revoking a share
or deleting the project ends its previews at once.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.errors import Forbidden, NotFound, TandemError
from tandem.persistence.models import ProjectFile, User
from tandem.services import access
from tandem.services.accounts import Principal
from tandem.services.secrets import SecretBox, SecretUnreadable
from tandem.workspace.paths import project_path

ENTRY = "index.html"


@dataclass(frozen=True, kw_only=True)
class Page:
    content: bytes
    media_type: str


def media_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    if path.endswith((".ts", ".tsx", ".jsx", ".mjs")):
        return "text/javascript"
    return guessed or "application/octet-stream"


class Previews:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, box: Callable[[], SecretBox], minutes: float
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._seconds = minutes * 60

    async def link(self, user: Principal, project_id: int) -> str:
        """A token for the project's preview, if `user` may read the project."""
        async with self._sessions() as session:
            await access.require(session, user, project_id, "read")
        note = json.dumps({"user": user.id, "project": project_id})
        return self._box().seal(note).decode()

    async def page(self, token: str, path: str) -> Page:
        """The file at `path` (the entry page for a folder), for the holder of `token`."""
        try:
            note = json.loads(self._box().open(token.encode(), max_age=self._seconds))
        except (SecretUnreadable, ValueError):
            raise Forbidden("this preview link is not valid or has expired: open the Preview tab again") from None
        if not path or path.endswith("/"):
            path += ENTRY
        try:
            path = project_path(path)
        except TandemError:
            raise NotFound(f"no page at {path!r}") from None
        async with self._sessions() as session:
            user = await session.get(User, note["user"])
            if user is None:
                raise Forbidden("the user who opened this preview no longer exists")
            principal = Principal(id=user.id, name=user.name, is_admin=user.is_admin)
            await access.require(session, principal, note["project"], "read")
            row = await session.scalar(
                select(ProjectFile).where(ProjectFile.project_id == note["project"], ProjectFile.path == path)
            )
        if row is None:
            raise NotFound(f"the project has no file {path!r}")
        content = row.data if row.data is not None else row.content.encode()
        return Page(content=content, media_type=media_type(path))
