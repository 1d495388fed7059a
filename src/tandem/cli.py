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
) -> None:
    """Start the server (API at /api/v1, UI at /)."""
    from tandem.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level=log_level,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=5,
    )


def main() -> None:
    cli()
