"""`tandem serve`: run the app with uvicorn. `tandem users`: accounts, from the server's machine.
`tandem import` / `tandem export`: bring a project in from a folder, an archive or a Git repository,
and write one out to a folder (straight to the database the server uses: the same `TANDEM_*` settings)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar
from urllib.parse import urlsplit

import typer
import uvicorn

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tandem.services.imports import Source
    from tandem.settings import Settings

T = TypeVar("T")

cli = typer.Typer(help="Tandem: a self-hosted AI code editor with live agent visibility.", no_args_is_help=True)
users_cli = typer.Typer(help="Users (TANDEM_AUTH=accounts), written straight to the configured database.")
cli.add_typer(users_cli, name="users")


@cli.callback()
def _root() -> None:
    """Tandem command line."""


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    max_connections: int | None = typer.Option(
        None, min=1, help="Concurrent connections before 503 (default: TANDEM_MAX_CONNECTIONS, 10,000)."
    ),
    workers: int = typer.Option(
        1, min=1, help="Processes sharing the port (more than one needs PostgreSQL and Redis: see Scaling out)."
    ),
) -> None:
    """Start the server (API at /api/v1, UI at /)."""
    from tandem.settings import Settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    if settings.auth == "none" and not is_loopback(host):
        typer.echo(
            f"refusing to listen on {host}: with TANDEM_AUTH=none anyone who reaches it acts as the admin. "
            "Set TANDEM_AUTH=accounts (and create a user: `tandem users create NAME --admin`), "
            "or listen on a loopback address (--host 127.0.0.1).",
            err=True,
        )
        raise typer.Exit(2)
    if workers > 1 and (missing := _missing_for_workers(settings)):
        typer.echo(
            f"refusing to start {workers} workers: processes share their runs only through PostgreSQL (the "
            "database) and Redis (the run event logs and leases; without them each process would interrupt "
            f"the others' runs). Missing: {'; '.join(missing)}. Or serve with one worker.",
            err=True,
        )
        raise typer.Exit(2)
    if max_connections is not None:
        settings = settings.model_copy(update={"max_connections": max_connections})
    preview_port = port + 1 if settings.preview_port is None else settings.preview_port
    sockets = []
    if preview_port:
        try:
            sockets.append(_listen(host, preview_port))
        except OSError as error:
            logging.getLogger(__name__).warning(
                "No previews: cannot listen on port %d (%s); choose another with TANDEM_PREVIEW_PORT",
                preview_port,
                error,
            )
            preview_port = 0
    settings = settings.model_copy(update={"preview_port": preview_port})
    if workers == 1:
        server = _server(settings, host, port, log_level)
        server.run(sockets=[server.config.bind_socket(), *sockets])
        return
    try:
        sockets.insert(0, _listen(host, port))
    except OSError as error:
        _fail(f"cannot listen on {host}:{port}: {error}")
    logging.getLogger(__name__).info("%d workers on %s:%d", workers, host, port)
    supervisor = os.getpid()

    def work() -> None:
        # Each worker builds its own app after the fork, so no event loop, connection or thread crosses it.
        try:
            server = _server(settings, host, port, log_level, supervisor=supervisor)
        except Exception as error:
            logging.getLogger(__name__).exception("worker %d could not start", os.getpid())
            raise SystemExit(_STARTUP_FAILURE) from error
        server.run(sockets=sockets)

    raise typer.Exit(_supervise(workers, work))


def _missing_for_workers(settings: Settings) -> list[str]:
    missing = []
    if not settings.resolved_database_url.startswith("postgresql"):
        missing.append("PostgreSQL (set TANDEM_DATABASE_URL=postgresql+asyncpg://USER@HOST:5432/DB)")
    if not settings.events_url:
        missing.append("Redis (set TANDEM_EVENTS_URL=redis://HOST:6379/0)")
    return missing


def _server(settings: Settings, host: str, port: int, log_level: str, *, supervisor: int | None = None) -> _Server:
    from tandem.api.connection import http_protocol
    from tandem.api.preview import ByPort, preview_app
    from tandem.app import create_app
    from tandem.redaction import redact_logs

    app = create_app(settings)
    previews = app.state.container.previews
    preview_port = settings.preview_port
    config = uvicorn.Config(
        ByPort(app, preview=preview_app(previews), preview_port=preview_port) if preview_port else app,
        host=host,
        port=port,
        log_level=log_level,
        loop="uvloop",
        http=http_protocol(max_header_bytes=settings.max_header_bytes, max_connections=settings.max_connections),
        timeout_graceful_shutdown=5,
    )
    # After uvicorn.Config, which installs its own handlers.
    redact_logs(*(logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")))
    return _Server(config, before_drain=app.state.container.runs.stop_all, supervisor=supervisor)


_STOP = {signal.SIGINT, signal.SIGTERM}
_SUPERVISED = {*_STOP, signal.SIGCHLD}
_STARTUP_FAILURE = 3
"""uvicorn's exit code when the app cannot start."""


def _supervise(workers: int, serve: Callable[[], None]) -> int:
    """Run `serve` in `workers` forked processes, each started again if it dies, until SIGINT or
    SIGTERM has ended them all; the exit code. A worker that cannot start ends them all (as gunicorn
    does): its replacement would fail the same way, for ever."""
    log = logging.getLogger(__name__)
    # Blocked, the signals wait for `sigwaitinfo`: none slips in between a fork and noting the child's pid.
    signal.pthread_sigmask(signal.SIG_BLOCK, _SUPERVISED)
    running = {_fork(serve) for _ in range(workers)}
    stopping, code = False, 0
    while running:
        if signal.sigwaitinfo(_SUPERVISED).si_signo in _STOP:
            stopping = True
            # SIGTERM whatever came: a Ctrl-C reaches the workers too (one process group), and a
            # second SIGINT would make uvicorn drop its graceful shutdown.
            for pid in running:
                os.kill(pid, signal.SIGTERM)
            continue
        for pid, status in _ended():
            running.discard(pid)
            if stopping:
                continue
            if status == _STARTUP_FAILURE:
                log.error("worker %d could not start; stopping the others", pid)
                stopping, code = True, _STARTUP_FAILURE
                for other in running:
                    os.kill(other, signal.SIGTERM)
                continue
            log.warning("worker %d died (exit code %d); starting another", pid, status)
            running.add(_fork(serve))
    return code


def _ended() -> Iterator[tuple[int, int]]:
    """The workers that have ended since the last look (one SIGCHLD may stand for several), with
    their exit codes (negative: the signal that killed them)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, os.waitstatus_to_exitcode(status)


def _fork(serve: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        _work(serve)
    return pid


def _work(serve: Callable[[], None]) -> NoReturn:
    """A worker's life: it never returns into the supervisor's stack (the CLI's)."""
    code = 1
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SUPERVISED)
        serve()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        logging.getLogger(__name__).exception("worker %d failed", os.getpid())
    finally:
        os._exit(code)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket like uvicorn's own, for the second origin (`api/preview.py`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """Ends the live runs as soon as shutdown begins. uvicorn first waits (up to its graceful
    timeout) for open connections to close, and only then lets the app shut down: a run's viewers
    would keep the run going and then be cut off without its terminal event.

    A worker (`--workers`) shuts down once its `supervisor` is gone: left alone it would hold the
    port, and no new `tandem serve` could take it."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        before_drain: Callable[[], Awaitable[None]],
        supervisor: int | None = None,
    ) -> None:
        super().__init__(config)
        self._before_drain = before_drain
        self._supervisor = supervisor

    async def on_tick(self, counter: int) -> bool:
        orphaned = self._supervisor is not None and os.getppid() != self._supervisor
        return await super().on_tick(counter) or orphaned

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection, so no new run, while the live ones end
        await self._before_drain()
        await super().shutdown(sockets)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _password() -> str:
    """From a prompt on a terminal (asked twice), else the first line of stdin (scripts)."""
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


def _in_database(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work(session)` in one transaction on the configured (migrated) database."""
    from tandem.persistence.database import create_engine, create_sessionmaker, migrate
    from tandem.settings import Settings

    async def run() -> T:
        engine = create_engine(Settings().resolved_database_url)
        try:
            await migrate(engine)
            async with create_sessionmaker(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@users_cli.command("create")
def create_user(
    name: str, admin: bool = typer.Option(False, "--admin", help="May create users and read the audit trail.")
) -> None:
    """Create a user; the password is prompted for (or read from stdin)."""
    from tandem.errors import TandemError
    from tandem.services import accounts, audit

    password = _password()

    async def create(session: AsyncSession) -> None:
        user = await accounts.create_user(session, name, password, is_admin=admin)
        await audit.record(session, None, "user.create", f"user {name}{' (admin)' if admin else ''}", actor="cli")
        typer.echo(f"created user {user.name}{' (admin)' if admin else ''}")

    try:
        _in_database(create)
    except TandemError as error:
        _fail(error.message)


@users_cli.command("password")
def set_password(name: str) -> None:
    """Set a user's password (also the way to sign in as `local`, who owns the projects made with
    TANDEM_AUTH=none); signs them out of every browser."""
    from tandem.errors import TandemError
    from tandem.services import accounts, audit

    password = _password()

    async def change(session: AsyncSession) -> None:
        await accounts.set_password(session, name, password)
        await audit.record(session, None, "user.password", f"user {name}", actor="cli")
        typer.echo(f"password of {name} set")

    try:
        _in_database(change)
    except TandemError as error:
        _fail(error.message)


@users_cli.command("token")
def create_token(name: str, label: str = typer.Option("cli", "--name", help="What the token is for.")) -> None:
    """Print a new API token for user NAME (send it as `Authorization: Bearer <token>`)."""
    from tandem.errors import TandemError
    from tandem.services import accounts
    from tandem.services.principal import Principal

    async def issue(session: AsyncSession) -> str:
        user = Principal.of_user(await accounts.user_named(session, name))
        return (await accounts.create_token(session, user, label)).secret

    try:
        typer.echo(_in_database(issue))
    except TandemError as error:
        _fail(error.message)


_GIT_SCHEMES = ("http", "https", "file", "ssh", "git")


@cli.command("import")
def import_project(
    source: str = typer.Argument(help="A folder on this machine, a .zip or .tar.gz file, or a Git URL."),
    name: str | None = typer.Option(None, help="The project's name (default: the folder's or repository's)."),
    ref: str | None = typer.Option(None, help="Git: the branch or tag (default: the remote's default branch)."),
    depth: int | None = typer.Option(1, min=1, help="Git: commits to fetch."),
    full_history: bool = typer.Option(False, "--full-history", help="Git: fetch every commit (ignores --depth)."),
    owner: str = typer.Option("local", help="The user who will own the project (TANDEM_AUTH=accounts)."),
) -> None:
    """Create a project from existing code. `.gitignore` is honoured; .git, node_modules, virtualenvs
    and build output are left out; limits are TANDEM_MAX_FILE_BYTES / _PROJECT_FILES / _PROJECT_BYTES."""
    from tandem.services.imports import ArchiveSource, FolderSource, GitSource

    chosen: Source
    if urlsplit(source).scheme in _GIT_SCHEMES:
        chosen = GitSource(url=source, ref=ref, depth=None if full_history else depth)
        default_name = urlsplit(source).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    else:
        path = Path(source).expanduser().resolve()
        if not path.exists():
            _fail(f"{source} does not exist (give a folder, a .zip / .tar.gz file, or a Git URL)")
        chosen = FolderSource(path=path) if path.is_dir() else ArchiveSource(path=path)
        default_name = path.name.removesuffix(".zip").removesuffix(".tar.gz").removesuffix(".tgz")
    asyncio.run(_import(owner, name or default_name or "imported", chosen))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


async def _import(owner: str, name: str, source: Source) -> None:
    from tandem.container import build_importer
    from tandem.errors import TandemError
    from tandem.persistence.database import create_engine, create_sessionmaker, migrate
    from tandem.services.accounts import user_named
    from tandem.services.imports import LiveImport
    from tandem.services.principal import Principal
    from tandem.settings import Settings

    settings = Settings()
    engine = create_engine(settings.resolved_database_url)
    try:
        await migrate(engine)
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            try:
                user = Principal.of_user(await user_named(session, owner))
            except TandemError as error:
                _fail(error.message)
        importer = build_importer(settings, sessions, operator=True)
        live = LiveImport()
        work = asyncio.create_task(importer.run(user, name, source, importer.scratch(), live=live))
        shown = ""
        while not work.done():
            progress = live.progress
            line = f"{progress.phase} {progress.files_done}/{progress.files_total or '?'}"
            if line != shown and sys.stderr.isatty():
                typer.echo(f"\r{line}", err=True, nl=False)
                shown = line
            await asyncio.wait({work}, timeout=0.2)
        await importer.shutdown()  # gives back its scratch space
        try:
            imported = work.result()
        except TandemError as error:
            _fail(error.message)
    finally:
        await engine.dispose()
    project = imported.project
    typer.echo(
        f"Imported {imported.files} files ({imported.binary_files} binary, {imported.skipped} links skipped) "
        f"into project {project.id} {project.name!r}"
    )


@cli.command("export")
def export_project(
    project: Annotated[str, typer.Argument(help="The project's id or name.")],
    folder: Annotated[Path, typer.Argument(help="Where to write its files.")],
    force: bool = typer.Option(False, "--force", help="Write into a folder that is not empty (same paths replaced)."),
) -> None:
    """Write a project's files to a folder on this machine."""
    folder = folder.expanduser()
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not force)):
        _fail(f"{folder} is not an empty folder; pass --force to write into it anyway")
    folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(_export(project, folder))


async def _export(project: str, folder: Path) -> None:
    from sqlalchemy import select

    from tandem.errors import TandemError
    from tandem.persistence.database import create_engine, create_sessionmaker, migrate
    from tandem.persistence.models import Project
    from tandem.settings import Settings
    from tandem.workspace.archive import export_project

    engine = create_engine(Settings().resolved_database_url)
    try:
        await migrate(engine)
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            matches = list(
                await session.scalars(
                    select(Project).where(
                        (Project.id == int(project)) if project.isdigit() else (Project.name == project)
                    )
                )
            )
        if len(matches) != 1:
            _fail(f"{len(matches)} projects are called {project!r}; give the project's id")
        try:
            count = await export_project(sessions, matches[0].id, folder)
        except TandemError as error:
            _fail(error.message)
    finally:
        await engine.dispose()
    typer.echo(f"Wrote {count} files of project {matches[0].id} {matches[0].name!r} to {folder}")


models_cli = typer.Typer(help="The configured models.", no_args_is_help=True)
cli.add_typer(models_cli, name="models")

_MARKS = {True: "ok  ", False: "FAIL", None: "—   "}


@models_cli.command("check")
def check_models() -> None:
    """Check each configured model with a few small real requests and keep the result for the server."""
    from tandem.container import build_container
    from tandem.errors import TandemError
    from tandem.persistence.database import migrate
    from tandem.settings import Settings

    async def check() -> bool:
        container = build_container(Settings())
        try:
            await migrate(container.engine)
            results = await container.model_checks.check(force=True)
        finally:
            await container.engine.dispose()
        for result in results:
            typer.echo(
                f"{result.model} ({result.base_url or 'in process'}): {'works' if result.ok else 'does not work'}"
            )
            for step in result.steps:
                typer.echo(f"  {_MARKS[step.ok]} {step.detail}")
                if step.fix:
                    typer.echo(f"       Fix: {step.fix}")
        return all(result.ok for result in results)

    try:
        ok = asyncio.run(check())
    except TandemError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(0 if ok else 1)


def main() -> None:
    cli()


@cli.command()
def openapi() -> None:
    """Print the OpenAPI document (the frontend's wire types are generated from it)."""
    import json

    from tandem.app import create_app

    typer.echo(json.dumps(create_app().openapi(), indent=2, sort_keys=True))
