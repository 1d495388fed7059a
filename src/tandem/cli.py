"""`tandem serve`: run the app with uvicorn."""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable

import typer
import uvicorn

cli = typer.Typer(help="Tandem: a self-hosted AI code editor with live agent visibility.", no_args_is_help=True)


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
) -> None:
    """Start the server (API at /api/v1, UI at /)."""
    from tandem.api.connection import http_protocol
    from tandem.app import create_app
    from tandem.settings import Settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    if max_connections is not None:
        settings = settings.model_copy(update={"max_connections": max_connections})
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        loop="uvloop",
        http=http_protocol(max_header_bytes=settings.max_header_bytes, max_connections=settings.max_connections),
        timeout_graceful_shutdown=5,
    )
    _Server(config, before_drain=app.state.container.runs.stop_all).run()


class _Server(uvicorn.Server):
    """Ends the live runs as soon as shutdown begins. uvicorn first waits (up to its graceful
    timeout) for open connections to close, and only then lets the app shut down: a run's viewers
    would keep the run going and then be cut off without its terminal event."""

    def __init__(self, config: uvicorn.Config, *, before_drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._before_drain = before_drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection, so no new run, while the live ones end
        await self._before_drain()
        await super().shutdown(sockets)


models = typer.Typer(help="The configured models.", no_args_is_help=True)
cli.add_typer(models, name="models")

_MARKS = {True: "ok  ", False: "FAIL", None: "—   "}


@models.command("check")
def check_models() -> None:
    """Check each configured model with a few small real requests and keep the result for the server."""
    import asyncio

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
