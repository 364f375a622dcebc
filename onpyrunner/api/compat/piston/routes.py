"""Piston v2's HTTP routes: GET /runtimes, POST /execute, GET /packages (and its refused
POST and DELETE). Errors answer in Piston's shape, `{"message": ...}`."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from onpyrunner.api.compat.piston import languages, translate
from onpyrunner.api.compat.piston.translate import PistonError, PistonRequest
from onpyrunner.api.schemas import JobCreate
from onpyrunner.api.services import Services, services
from onpyrunner.api.submit import job_request, submit_and_wait, sync_wait_s
from onpyrunner.errors import BackendUnavailableError, QueueFullError
from onpyrunner.models import TERMINAL_STATUSES, JobRequest, Origin

ORIGIN = Origin(api="piston")
#: The native request's limit fields, and the Piston stage each is.
_STAGES = {"limits": "run", "compile_limits": "compile"}


class Message(BaseModel):
    """Piston's error answer."""

    message: str


def _answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    words = {
        400: "refused, in Piston's words (or the body is not JSON)",
        403: "not offered",
        503: "the queue is full (Retry-After) or its backend is down",
        504: "the job did not finish in time; it goes on",
    }
    return {status: {"model": Message, "description": words[status]} for status in statuses}


class PistonRoute(APIRoute):
    """A route whose errors answer in Piston's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except PistonError as e:
                return JSONResponse({"message": e.message}, status_code=e.status)
            except QueueFullError as e:
                return JSONResponse(
                    {"message": "the queue is full; try again later"},
                    status_code=503,
                    headers={"Retry-After": str(e.retry_after_s)},
                )
            except BackendUnavailableError as e:
                return JSONResponse(
                    {"message": f"the queue backend is unavailable: {e}"}, status_code=503
                )

        return route


router = APIRouter(tags=["piston"], route_class=PistonRoute)


def _both(path: str) -> list[str]:
    """Piston's clients write paths with and without a trailing slash."""
    return [path, f"{path}/"]


async def offered(svc: Services) -> dict[str, str]:
    """Runtime id -> version of what the live workers run."""
    return {lang.runtime: version for lang, version in languages.offered(await svc.languages())}


def native_problem(e: RequestValidationError | ValidationError) -> PistonError:
    """The native path's refusal, in Piston's words (a limit in its units; of several, the
    one Piston checks first)."""
    errors = e.errors()
    over: dict[str, str] = {}  # Piston's field -> its refusal
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        bound = (error.get("ctx") or {}).get("le")
        if len(loc) >= 2 and loc[-2] in _STAGES and isinstance(bound, int):
            stage = _STAGES[loc[-2]]
            over[translate.limit_field(loc[-1], stage)] = translate.limit_message(
                loc[-1], bound, stage
            )
    if over:
        return PistonError(over[min(over, key=translate.CHECK_ORDER.index)])
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return PistonError(f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request")


async def native_request(
    svc: Services, request: PistonRequest, interactive: bool = False
) -> JobRequest:
    """The job request, through the native path exactly as for POST /execute.

    Raises:
        PistonError: the native path refused it.
    """
    try:
        return await job_request(JobCreate(**request.job_body(interactive)), svc)
    except (RequestValidationError, ValidationError) as e:
        raise native_problem(e) from e


async def parse_body(request: Request) -> Any:
    """The body as JSON, whatever its declared content type (the npm client says
    text/plain)."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise PistonError(f"the body is not valid JSON: {e}") from e
    except RecursionError as e:
        raise PistonError("the body is not valid JSON: it is nested too deeply") from e


@router.api_route(_both("/runtimes")[0], methods=["GET"], responses=_answers(503))
@router.api_route(_both("/runtimes")[1], methods=["GET"], include_in_schema=False)
async def runtimes(request: Request) -> JSONResponse:
    """The runtimes of the live workers: `[{language, version, aliases, runtime?}]`."""
    svc = services(request)
    answer = []
    for lang, version in languages.offered(await svc.languages()):
        entry: dict[str, Any] = {
            "language": lang.language,
            "version": version,
            "aliases": list(lang.aliases),
        }
        if lang.piston_runtime is not None:
            entry["runtime"] = lang.piston_runtime
        answer.append(entry)
    return JSONResponse(answer)


@router.api_route(
    _both("/execute")[0],
    methods=["POST"],
    responses=_answers(400, 503, 504),
    openapi_extra={
        "requestBody": {
            "description": "Piston's execute request (read as JSON whatever its content type)",
            "content": {"application/json": {"schema": {}}},
        }
    },
)
@router.api_route(_both("/execute")[1], methods=["POST"], include_in_schema=False)
async def execute(request: Request) -> JSONResponse:
    """Run a program and answer when it finished: `{language, version, run, compile?}`."""
    svc = services(request)
    parsed = translate.parse(
        await parse_body(request),
        await offered(svc),
        svc.settings.piston_strict_versions,
    )
    job_req = await native_request(svc, parsed)
    wait_s = sync_wait_s(svc, job_req)
    job = await submit_and_wait(svc, job_req, wait_s, ORIGIN)
    if job.status not in TERMINAL_STATUSES:
        raise PistonError(
            f"job {job.id} did not finish within {wait_s:g} s; it goes on: GET /jobs/{job.id}",
            504,
        )
    return JSONResponse(translate.render(job, parsed))


@router.api_route(_both("/packages")[0], methods=["GET"], responses=_answers(503))
@router.api_route(_both("/packages")[1], methods=["GET"], include_in_schema=False)
async def packages(request: Request) -> JSONResponse:
    """The installed runtimes as Piston's packages (read-only)."""
    svc = services(request)
    return JSONResponse(
        [
            {"language": lang.language, "language_version": version, "installed": True}
            for lang, version in languages.offered(await svc.languages())
        ]
    )


def _no_packages() -> PistonError:
    return PistonError(
        "packages cannot be installed or removed through this API: the runtimes are those "
        "of the server's workers (GET /runtimes)",
        403,
    )


@router.api_route(_both("/packages")[0], methods=["POST"], responses=_answers(403))
@router.api_route(_both("/packages")[1], methods=["POST"], include_in_schema=False)
async def install_package(request: Request) -> JSONResponse:
    """Installing packages is not offered: the runtimes are the server's."""
    raise _no_packages()


@router.api_route(_both("/packages")[0], methods=["DELETE"], responses=_answers(403))
@router.api_route(_both("/packages")[1], methods=["DELETE"], include_in_schema=False)
async def remove_package(request: Request) -> JSONResponse:
    """Removing packages is not offered: the runtimes are the server's."""
    raise _no_packages()
