"""Real Git for tests: repositories built with the `git` CLI, and bare ones served over smart HTTP
on loopback by `git http-backend` (the CGI program `git` ships) behind a small threaded server."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    return result.stdout


def make_repository(folder: Path, files: dict[str, str | bytes], *, branch: str = "main") -> Path:
    """A repository with `files` committed on `branch` (one commit); returns the folder."""
    folder.mkdir(parents=True)
    git("init", "-q", "-b", branch, cwd=folder)
    commit(folder, files, "initial")
    return folder


def commit(folder: Path, files: dict[str, str | bytes], message: str) -> None:
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    git("add", "-A", cwd=folder)
    git("commit", "-q", "-m", message, cwd=folder)


def bare_clone(source: Path, target: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(target)], check=True, capture_output=True)
    git("config", "http.receivepack", "true", cwd=target)
    git("config", "uploadpack.allowFilter", "true", cwd=target)
    return target


class _GitHandler(BaseHTTPRequestHandler):
    root: Path
    authorization: str | None
    """The Authorization header every request must carry (HTTP Basic), if any."""

    def _cgi(self) -> None:
        if self.authorization is not None and self.headers.get("Authorization") != self.authorization:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "tester",
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        if self.headers.get("Content-Encoding") == "gzip":
            env["HTTP_CONTENT_ENCODING"] = "gzip"
        if protocol := self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = protocol
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _cgi
    do_POST = _cgi

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_git(root: Path, *, credentials: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve the bare repositories under `root` at `http://127.0.0.1:PORT/<name>.git`, to anyone, or
    only to requests that send `credentials` (user name, password) by HTTP Basic."""
    authorization = (
        "Basic " + base64.b64encode(":".join(credentials).encode()).decode() if credentials is not None else None
    )
    handler = type("Handler", (_GitHandler,), {"root": root, "authorization": authorization})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
