"""`tandem serve`: run the app with uvicorn."""

from __future__ import annotations

import logging

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
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        loop="uvloop",
        http=http_protocol(max_header_bytes=settings.max_header_bytes, max_connections=settings.max_connections),
        timeout_graceful_shutdown=5,
    )


def main() -> None:
    cli()
