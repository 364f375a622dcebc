"""Domain errors to HTTP answers, in one place. Every error body is JSON {"error": ...}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from onpyrunner.api.schemas import ErrorBody
from onpyrunner.errors import (
    BackendUnavailableError,
    BatchNotFoundError,
    HistoryOffError,
    HistoryUnavailableError,
    JobFinishedError,
    JobNotFoundError,
    OnPyRunnerError,
    QueueFullError,
    UnknownLanguageError,
)

log = logging.getLogger(__name__)


def error(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    detail: list[Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if detail is not None:
        body["detail"] = jsonable_encoder(detail)
    return JSONResponse(body, status_code=status, headers=headers)


def field_error(
    loc: tuple[str | int, ...],
    message: str,
    kind: str = "value_error",
    ctx: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry of a 422's detail, in FastAPI's own shape (ctx: the bound passed, as
    pydantic gives it, {"le": 15000}; compatible APIs restate it in their units)."""
    error: dict[str, Any] = {"type": kind, "loc": list(loc), "msg": message}
    if ctx is not None:
        error["ctx"] = ctx
    return error


def _where(loc: list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    message = f"{_where(list(first.get('loc', [])))}: {first.get('msg')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    detail = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in errors]
    return error(422, message, detail=detail)


#: Methods a 405's Allow header may list.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this request's path.

    Starlette's own 405 lists the methods of the first route whose path matched, so for
    /jobs/{id} (one route for GET, another for DELETE) it said only GET. This asks every
    route, through the public BaseRoute.matches, wherever the routes are declared.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error(exc.status_code, str(exc.detail), headers=headers)


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, QueueFullError):
        return error(503, str(exc), headers={"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, BackendUnavailableError):
        return error(503, f"the queue backend is unavailable: {exc}", headers={"Retry-After": "1"})
    if isinstance(exc, HistoryUnavailableError):
        return error(
            503, f"the history database is unavailable: {exc}", headers={"Retry-After": "5"}
        )
    if isinstance(exc, HistoryOffError):
        return error(404, str(exc))
    if isinstance(exc, JobNotFoundError | BatchNotFoundError):
        return error(404, str(exc))
    if isinstance(exc, JobFinishedError):
        return error(409, str(exc))
    if isinstance(exc, UnknownLanguageError):
        return error(422, f"language: {exc}", detail=[field_error(("body", "language"), str(exc))])
    log.error("unmapped domain error: %r", exc)
    return error(500, "internal error")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error", exc_info=exc)
    return error(500, "internal error")


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(OnPyRunnerError, _domain)
    app.add_exception_handler(Exception, _unexpected)


def error_answer(description: str, **headers: str) -> dict[str, Any]:
    """An error answer (ErrorBody, and these required headers) for a route's `responses`."""
    answer: dict[str, Any] = {"description": description, "model": ErrorBody}
    if headers:
        answer["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


RETRY_AFTER = "seconds to wait before trying again"


class ErrorResponses:
    """OpenAPI descriptions of the error answers, per kind of route."""

    unavailable: dict[int | str, dict[str, Any]] = {
        503: error_answer("the queue backend is unavailable", **{"Retry-After": RETRY_AFTER}),
    }
    body: dict[int | str, dict[str, Any]] = {
        # FastAPI answers 400 when reading the body fails for another reason than bad JSON
        # syntax (that is a 422): bytes that are not UTF-8, nesting deeper than Python's
        # parser goes, an integer of more than 4300 digits.
        400: error_answer("the body cannot be read as JSON: not UTF-8, or nested too deeply"),
        413: error_answer("request body too large"),
    }
    submit: dict[int | str, dict[str, Any]] = {
        **body,
        422: error_answer("invalid request: the message and detail name the field"),
        503: error_answer(
            "queue full, or the queue backend is unavailable", **{"Retry-After": RETRY_AFTER}
        ),
    }
    read: dict[int | str, dict[str, Any]] = {
        404: error_answer("unknown or expired job"),
        **unavailable,
    }
    cancel: dict[int | str, dict[str, Any]] = {
        **read,
        503: error_answer(
            "the queue backend or the history database is unavailable",
            **{"Retry-After": RETRY_AFTER},
        ),
    }
    history: dict[int | str, dict[str, Any]] = {
        404: error_answer("the history is off on this server (or no such job in it)"),
        422: error_answer("invalid query: the message and detail name the parameter"),
        503: error_answer("the history database is unavailable", **{"Retry-After": RETRY_AFTER}),
    }
