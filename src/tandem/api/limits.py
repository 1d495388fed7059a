"""Refuse oversized request bodies before they are read into memory."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.api.errors import error_response


class BodyTooLarge(HTTPException):
    # An HTTPException because FastAPI turns any other exception raised while it reads the body
    # into a 400; this one it re-raises, and the error handler renders it as 413 `too_large`.
    def __init__(self, max_bytes: int, setting: str) -> None:
        super().__init__(413, f"request body is larger than {max_bytes} bytes ({setting})")


ARCHIVE_TYPES = frozenset(
    {
        "application/zip",
        "application/x-zip-compressed",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar+gzip",
        "application/octet-stream",
    }
)
"""The media types `POST /projects` takes as an uploaded archive (anything else there is JSON)."""


def media_type(content_type: str) -> str:
    """`Application/JSON; charset=utf-8` → `application/json`: how every check here compares them."""
    return content_type.split(";")[0].strip().lower()


_JSON_SETTINGS = "the limit follows TANDEM_MAX_FILE_BYTES and TANDEM_MAX_MESSAGE_CHARS"
_UPLOAD_SETTING = "TANDEM_MAX_UPLOAD_BYTES"


class BodySizeLimit:
    """JSON bodies are held to `max_bytes`; an archive uploaded to `upload_path` (an `ARCHIVE_TYPES`
    body there) to `max_upload_bytes`, as the route streams it to disk."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_path: str, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_path = upload_path
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = (
            scope["method"] == "POST"
            and scope["path"] == self.upload_path
            and media_type(headers.get(b"content-type", b"").decode("latin-1")) in ARCHIVE_TYPES
        )
        max_bytes, setting = (self.max_upload_bytes, _UPLOAD_SETTING) if upload else (self.max_bytes, _JSON_SETTINGS)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(scope, receive, send, max_bytes, setting)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes, setting)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send, max_bytes, setting)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int, setting: str) -> None:
        response = error_response(413, "too_large", BodyTooLarge(max_bytes, setting).detail)
        await response(scope, receive, send)
