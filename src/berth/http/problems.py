"""One place that turns errors into OpenAI-shaped JSON with the right status.

    {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": null}}

Validation failures answer 400 with one readable line naming the fields, never a raw dump.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from berth import errors

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[errors.BerthError], int, str], ...] = (
    (errors.NotAuthenticated, 401, "authentication_error"),
    (errors.PermissionDenied, 403, "permission_error"),
    (errors.RateLimited, 429, "rate_limit_exceeded"),
    (errors.UnknownApiKey, 404, "not_found_error"),
    (errors.ApiKeyNameTaken, 409, "invalid_request_error"),
    (errors.UnknownJob, 404, "not_found_error"),
    (errors.UnknownModel, 404, "not_found_error"),
    (errors.UnknownArtifact, 404, "not_found_error"),
    (errors.NotFound, 404, "not_found_error"),
    (errors.UnknownKind, 400, "invalid_request_error"),
    (errors.InvalidJobInput, 400, "invalid_request_error"),
    (errors.MediaTooLarge, 413, "invalid_request_error"),
    (errors.UnsupportedMedia, 415, "invalid_request_error"),
    (errors.VectorStoreNotReady, 409, "invalid_request_error"),
    (errors.InvalidRequest, 400, "invalid_request_error"),
    (errors.MemoryBudgetExceeded, 503, "server_overloaded"),
    (errors.QueueFull, 503, "server_overloaded"),
    (errors.ModelLoading, 503, "model_loading"),
    (errors.ModelNotCached, 409, "model_not_available"),
    (errors.PluginError, 409, "model_not_available"),
    (errors.StoreError, 503, "server_unavailable"),
    (errors.PoolClosed, 503, "server_unavailable"),
)
RETRY_AFTER_SECONDS = 5


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def status_of(exc: errors.BerthError) -> tuple[int, str]:
    """The HTTP status and OpenAI error type for a Berth error."""
    for cls, status, kind in STATUS:
        if isinstance(exc, cls):
            return status, kind
    return 500, "server_error"


def headers_of(exc: errors.BerthError, status: int) -> dict[str, str] | None:
    """Headers that tell the client what to do next: when to retry, how to authenticate."""
    if isinstance(exc, errors.RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    if status == 503:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    return None


async def on_berth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.BerthError)
    status, kind = status_of(exc)
    headers = headers_of(exc, status)
    if status >= 500:
        log.error(
            "request failed",
            extra={"action": "api.error", "path": request.url.path, "error": exc.message},
        )
    return JSONResponse(error_body(exc.message, kind), status_code=status, headers=headers)


def describe(exc: RequestValidationError) -> str:
    """One line naming each bad field and what is wrong with it."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = str(error.get("msg", "is invalid"))
        if error.get("type") == "json_invalid":
            return "The request body is not valid JSON. Send a JSON object."
        parts.append(f"{where or 'body'}: {message}")
    return "Invalid request: " + "; ".join(parts) + "."


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(error_body(describe(exc), "invalid_request_error"), status_code=400)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    elif exc.status_code == 404:
        message = f"There is nothing at {request.url.path}."
    else:
        message = str(exc.detail)
    return JSONResponse(error_body(message, kind), status_code=exc.status_code, headers=exc.headers)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", extra={"action": "api.crash", "path": request.url.path})
    message = "Berth failed on this request; the server log has the details."
    return JSONResponse(error_body(message, "server_error"), status_code=500)


def install(app: FastAPI) -> None:
    """Register every handler on the app."""
    app.add_exception_handler(errors.BerthError, on_berth_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
