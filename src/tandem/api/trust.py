"""Who may call: only through an allowed host name, and no state change from another web origin.

- **DNS rebinding**: a page on `evil.example` whose name is made to resolve to 127.0.0.1 reaches this
  server as same-origin for the browser; only its `Host` header gives it away. Requests whose `Host`
  is not an allowed name are refused with 421 before any route runs, GET included.
- **Cross-site request forgery**: a page on another origin can send a POST without a body (no CORS
  preflight) to a loopback server. Every request that may change state (POST, PUT, PATCH, DELETE)
  must come from this origin. The check is the one browsers make enforceable today (the algorithm of
  Go's `http.CrossOriginProtection`): `Sec-Fetch-Site` when the browser sends it, otherwise `Origin`
  against `Host`. A request with neither header is not from a browser (curl, scripts, the CLI): no
  web page can make a browser leave both out, so it is let through.
- **Headers on every response**: a strict Content-Security-Policy (nothing third-party: no remote
  images, scripts or frames, so model output cannot make the UI fetch a URL), no framing, no MIME
  sniffing, no Referer.

Pure ASGI and outermost, so it runs before everything, including the SSE hand-off, and costs one
header check per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.api.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

UI_POLICY = (
    "default-src 'self'; script-src 'self'; "
    # CodeMirror writes its theme into <style> elements at run time.
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's API explorer loads Swagger UI / ReDoc from a CDN with an inline bootstrap script; the
# pages show only the OpenAPI document, never project files or model output.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


def _headers(policy: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]


UI_HEADERS = _headers(UI_POLICY)
DOCS_HEADERS = _headers(DOCS_POLICY)


def host_name(host: str) -> str:
    """The name part of a `Host` header value, lower-cased: `[::1]:8000` → `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") > 1:  # a bare IPv6 address, as in the settings: no port to strip
        return host
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


FrameOrigin = Callable[[str, str], str | None]
"""(scheme, Host header) → the one other origin the UI may frame (the preview origin), if any."""


class TrustBoundary:
    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str], frame_origin: FrameOrigin | None = None) -> None:
        self.app = app
        self.frame_origin = frame_origin
        self.any_host = "*" in allowed_hosts
        self.allowed_hosts = frozenset(host_name(host) for host in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        extra = DOCS_HEADERS if scope["path"] in DOCS_PATHS else self._ui_headers(scope["scheme"], host)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        if not self.any_host and host_name(host) not in self.allowed_hosts:
            await error_response(
                421,
                "host_not_allowed",
                f"this server does not answer for host {host!r}; allowed host names are set with TANDEM_ALLOWED_HOSTS",
            )(scope, receive, send_with_headers)
            return
        if scope["method"] not in SAFE_METHODS and (refusal := _cross_origin(headers, host)):
            await error_response(403, "cross_origin", refusal)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _ui_headers(self, scheme: str, host: str) -> list[tuple[bytes, bytes]]:
        framed = self.frame_origin(scheme, host) if self.frame_origin is not None else None
        if framed is None:
            return UI_HEADERS
        return _headers(f"{UI_POLICY}; frame-src {framed}")


def _cross_origin(headers: dict[bytes, bytes], host: str) -> str | None:
    """Why a state-changing request is refused as cross-origin, or None if it may go on."""
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None:
        if fetch_site in (b"same-origin", b"none"):
            return None
        return f"a request from another site ({fetch_site.decode('latin-1')}) may not change anything here"
    origin = headers.get(b"origin")
    if origin is None:
        return None
    origin_text = origin.decode("latin-1")
    if urlsplit(origin_text).netloc.lower() == host.lower() != "":
        return None
    return f"a request from origin {origin_text!r} may not change anything here"
