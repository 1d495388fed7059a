"""The preview origin: project pages, served on a port of their own, apart from the app.

A page the model wrote is untrusted code. On the app's origin it could call the API with the user's
sign-in; here it cannot: this origin answers nothing but preview links (no API, no sign-in), every
page is sandboxed by its Content-Security-Policy (an opaque origin, even when opened outside the
Preview tab, so it reads no cookie or storage of any origin), and the app refuses state changes from
any other origin (`trust.py`). The Preview tab adds the iframe's own `sandbox` on top.
"""

from __future__ import annotations

import re
from html import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tandem.api.trust import host_name
from tandem.errors import TandemError
from tandem.services.previews import Previews
from tandem.settings import Settings

PREVIEW_POLICY = (
    "sandbox allow-scripts allow-forms allow-modals allow-popups allow-downloads; "
    "default-src 'self' data: blob:; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "media-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
)
PREVIEW_HEADERS = {
    "Content-Security-Policy": PREVIEW_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    # A sandboxed page has an opaque origin: its module scripts and fetches are CORS requests from
    # `null`. The link is the only credential; nothing here reads a cookie.
    "Access-Control-Allow-Origin": "*",
}


BRIDGE = b"""<script>(() => {
  // Tandem's preview bridge: tells the app about errors and the scroll position, and restores it.
  const post = (message) => { try { parent.postMessage({ tandemPreview: message }, '*'); } catch (e) {} };
  const text = (value) => String(value && value.message || value).slice(0, 2000);
  addEventListener('error', (e) => {
    const target = e.target;
    if (target && target !== window && (target.src || target.href)) {
      post({ error: 'Could not load ' + (target.src || target.href).split('/').pop() });
    } else {
      post({ error: text(e.message) + (e.filename ? ' (' + e.filename.split('/').pop() + ':' + e.lineno + ')' : '') });
    }
  }, true);
  addEventListener('unhandledrejection', (e) => post({ error: 'Unhandled promise rejection: ' + text(e.reason) }));
  const consoleError = console.error.bind(console);
  console.error = (...args) => { post({ error: args.map(text).join(' ') }); consoleError(...args); };
  let pending = false;
  addEventListener('scroll', () => {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; post({ scroll: [scrollX, scrollY] }); }, 100);
  });
  addEventListener('message', (e) => {
    const to = e.source === parent && e.data && e.data.tandemPreview && e.data.tandemPreview.scrollTo;
    if (to) scrollTo(to[0], to[1]);
  });
})();</script>"""
_HEAD = re.compile(rb"<head\b[^>]*>|<!doctype[^>]*>", re.IGNORECASE)


def with_bridge(page: bytes) -> bytes:
    """The page with the bridge first in its `<head>` (after the doctype: before it, the page would
    render in quirks mode), so it sees the page's own errors from the start."""
    found = _HEAD.search(page, 0, 4096)
    at = found.end() if found is not None else 0
    return page[:at] + BRIDGE + page[at:]


def preview_origin(settings: Settings, *, scheme: str, host: str) -> str | None:
    """Where browsers reach previews: the configured origin, else the app's host name (from its `Host`
    header) at the preview port; None when previews are off."""
    if settings.preview_origin is not None:
        return settings.preview_origin
    if not settings.preview_port:
        return None
    name = host_name(host) or "127.0.0.1"
    bracketed = f"[{name}]" if ":" in name else name
    return f"{scheme}://{bracketed}:{settings.preview_port}"


def preview_app(previews: Previews) -> Starlette:
    async def page(request: Request) -> Response:
        try:
            found = await previews.page(request.path_params["token"], request.path_params["path"])
        except TandemError as error:
            body = f"<!doctype html><title>Preview</title><p>{escape(error.message)}</p>"
            return HTMLResponse(body, status_code=error.status_code, headers=PREVIEW_HEADERS)
        content = with_bridge(found.content) if found.media_type == "text/html" else found.content
        return Response(content, media_type=found.media_type, headers=PREVIEW_HEADERS)

    async def nothing(request: Request) -> Response:
        return HTMLResponse("<!doctype html><p>Tandem's preview origin: open a preview from the app.</p>", 404)

    return Starlette(
        routes=[Route("/{token}/{path:path}", page, methods=["GET", "HEAD"]), Route("/{rest:path}", nothing)]
    )


class ByPort:
    """One server, two origins: requests to `preview_port` go to the preview app, all else to the app."""

    def __init__(self, app: ASGIApp, *, preview: ASGIApp, preview_port: int) -> None:
        self.app = app
        self.preview = preview
        self.preview_port = preview_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "http" and server is not None and server[1] == self.preview_port:
            await self.preview(scope, receive, send)
        else:
            await self.app(scope, receive, send)
