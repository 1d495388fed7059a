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
from tandem.services.bundles import BUNDLES, Bundles, entries, with_bundles
from tandem.services.principal import Principal
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
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        box: Callable[[], SecretBox],
        minutes: float,
        bundles: Bundles,
    ) -> None:
        self._sessions = sessions
        self._bundles = bundles
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
            principal = Principal.of_user(user)
            await access.require(session, principal, note["project"], "read")
            row = await session.scalar(
                select(ProjectFile).where(ProjectFile.project_id == note["project"], ProjectFile.path == path)
            )
        if path.startswith(f"{BUNDLES}/"):
            return await self._built(note["project"], path)
        if row is None:
            raise NotFound(f"the project has no file {path!r}")
        content = row.data if row.data is not None else row.content.encode()
        page = Page(content=content, media_type=media_type(path))
        if page.media_type == "text/html" and (entry_points := entries(content, path)):
            bundle = await self._bundles.bundle(note["project"], entry_points)
            # Relative to the page, which knows its own link: this service does not know the origin's URLs.
            prefix = "../" * path.count("/") + f"{BUNDLES}/{bundle.key}"
            return Page(content=with_bundles(content, path, bundle, prefix), media_type=page.media_type)
        return page

    async def _built(self, project_id: int, path: str) -> Page:
        key, _, name = path.removeprefix(f"{BUNDLES}/").partition("/")
        bundle = await self._bundles.kept(project_id, key, name)
        if bundle is None or name not in bundle.files:
            raise NotFound("this build of the page is no longer kept: reload the page")
        return Page(content=bundle.files[name], media_type=media_type(name))
