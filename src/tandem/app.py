"""The FastAPI application: routes under `/api/v1`, the built frontend at `/`."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from pydantic import TypeAdapter
from starlette.responses import FileResponse

from tandem.agents.models import load_agents
from tandem.api.deps import API_PREFIX, current_user
from tandem.api.errors import allowed_methods, install_error_handlers
from tandem.api.limits import BodySizeLimit
from tandem.api.preview import preview_origin
from tandem.api.routes import (
    admin,
    auth,
    chat,
    git,
    health,
    history,
    imports,
    live,
    models,
    previews,
    projects,
    runs,
)
from tandem.api.routes.schemas import ProjectCreate
from tandem.api.sse import StreamHandOff, StreamLimits
from tandem.api.trust import TrustBoundary
from tandem.container import Container, build_container
from tandem.errors import NotFound
from tandem.events import CommandEvent, ProjectEvent, RunEvent
from tandem.persistence.database import migrate
from tandem.settings import Settings

logger = logging.getLogger(__name__)


def _frontend_dir(settings: Settings) -> Path | None:
    candidates = [settings.frontend_dir] if settings.frontend_dir else []
    candidates.append(Path(__file__).resolve().parents[2] / "frontend" / "dist")
    return next((path for path in candidates if path is not None and (path / "index.html").is_file()), None)


def _warm_up() -> None:
    load_agents()
    # What is loaded by now (modules, classes, pydantic schemas: ~170,000 objects) lives as long as the
    # process and needs no collecting. Frozen, the collector skips it; unfrozen, each full collection
    # walked it for ~230 ms, during which every stream of the server stalled at once (bench capacity:
    # p99 at 8 live runs 160–200 ms with it, 35 ms without).
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    container: Container = build_container(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(container.engine)
        await container.commands.detect()
        await container.runs.begin()
        await container.imports.begin()
        # The first run needs pydantic-ai (~1.5 s to import): loaded meanwhile, while the server answers.
        threading.Thread(target=_warm_up, name="load-agents", daemon=True).start()
        try:
            yield
        finally:
            await container.project_events.close()
            await container.imports.shutdown()
            await container.runs.shutdown()
            await container.engine.dispose()

    app = FastAPI(
        title="Tandem",
        version=version("tandem"),
        description="Self-hosted AI code editor with live agent visibility.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.container = container
    install_error_handlers(app)
    for module in (health, auth):  # public: health, signing in; the rest of auth takes the user itself
        app.include_router(module.router, prefix=API_PREFIX)
    # Signed-in users only, whether or not a route asks who the user is: a new route cannot forget it.
    for module in (projects, imports, previews, live, chat, runs, history, git, models, admin):
        app.include_router(module.router, prefix=API_PREFIX, dependencies=[Depends(current_user)])
    app.add_middleware(
        BodySizeLimit,
        max_bytes=max(settings.max_file_bytes, settings.max_message_chars * 4) + 64 * 1024,
        upload_path=f"{API_PREFIX}/projects",
        max_upload_bytes=settings.max_upload_bytes,
    )
    limits = StreamLimits(backlog_bytes=settings.stream_backlog_bytes, stall_seconds=settings.stream_stall_seconds)
    app.add_middleware(StreamHandOff, limits=limits)
    app.add_middleware(
        TrustBoundary,
        allowed_hosts=settings.allowed_hosts,
        frame_origin=lambda scheme, host: preview_origin(settings, scheme=scheme, host=host),
    )  # added last: outermost
    _install_openapi(app)
    _mount_frontend(app, settings)
    return app


def _install_openapi(app: FastAPI) -> None:
    """Publish the streams' event unions as schemas, so `text/event-stream` responses are described."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            streams: dict[str, TypeAdapter[Any]] = {
                "RunEvent": TypeAdapter(RunEvent),
                "ProjectEvent": TypeAdapter(ProjectEvent),
                "CommandEvent": TypeAdapter(CommandEvent),
            }
            for name, adapter in streams.items():
                event_schema = adapter.json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
                components.update(event_schema.pop("$defs", {}))
                components[name] = event_schema
            # `POST /projects` reads its body itself (JSON or a streamed archive), so FastAPI does not see the model.
            create_schema = ProjectCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(create_schema.pop("$defs", {}))
            components["ProjectCreate"] = create_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_frontend(app: FastAPI, settings: Settings) -> None:
    dist = _frontend_dir(settings)
    if dist is None:
        return
    app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")
    index = dist / "index.html"

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str, request: Request) -> FileResponse:
        # Client-side routes all load the app; real files (favicon etc.) are served as they are.
        if path == "api" or path.startswith("api/"):
            if allowed_methods(request):  # a POST-only endpoint, say: this catch-all matched the GET
                raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED)
            raise NotFound(f"no API endpoint at /{path}")
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(dist.resolve()):
            return FileResponse(candidate)
        return FileResponse(index)
