"""The one error handler: everything a client sees as an error is `{"code", "message"}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from tandem.errors import TandemError

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(code=code, message=message).model_dump(), status_code=status)


def _describe(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """Every method the path has. Starlette's own `Allow` names one route's methods, and each method
    of a path is a route of its own here. The frontend's catch-all (not in the schema) answers 404
    under /api, so it adds none."""
    routes = [route for route in request.app.router.routes if getattr(route, "include_in_schema", True)]
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TandemError)
    async def tandem_error(_: Request, error: TandemError) -> JSONResponse:
        response = error_response(error.status_code, error.code, error.message)
        response.headers.update(error.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_input", _describe(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        # FastAPI answers 400 to a JSON body it cannot decode (not UTF-8): malformed JSON, a 422 here.
        status = 422 if error.status_code == 400 else error.status_code
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 422: "invalid_input"}
        response = error_response(status, code.get(status, "http_error"), str(error.detail))
        response.headers.update(error.headers or {})
        if status == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error; the server log has the details")


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "`unauthorized`: sign in, or send `Authorization: Bearer <token>`"},
    403: {
        "model": ErrorBody,
        "description": "`cross_origin`: a state change from another web origin; `forbidden`: a read-only share, "
        "or an admin's endpoint",
    },
    404: {"model": ErrorBody, "description": "Unknown id"},
    409: {"model": ErrorBody, "description": "Conflict (`busy`: a run is active on the project)"},
    413: {"model": ErrorBody, "description": "Too large (`too_large`: the message names the limit's setting)"},
    421: {"model": ErrorBody, "description": "`host_not_allowed`: a `Host` not in TANDEM_ALLOWED_HOSTS"},
    422: {"model": ErrorBody, "description": "Invalid input, or a count limit reached (`limit_reached`)"},
    429: {
        "model": ErrorBody,
        "description": "`rate_limited`: the message names the per-user limit's setting; `Retry-After` says when",
    },
}
