"""SandboxFusion's HTTP routes: POST /run_code and GET /v1/ping. A refused request answers
422 in FastAPI's own shape (`{"detail": [{"type", "loc", "msg"}]}`), as SandboxFusion (a
FastAPI service) does; an overloaded service 503 with Retry-After."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from onpyrunner.api.compat.sandboxfusion import languages, translate
from onpyrunner.api.compat.sandboxfusion.languages import FusionLanguage
from onpyrunner.api.compat.sandboxfusion.translate import RunCodeRequest
from onpyrunner.api.schemas import JobCreate
from onpyrunner.api.services import Services, services
from onpyrunner.api.submit import job_request, origin, submit_and_wait, sync_wait_s
from onpyrunner.errors import BackendUnavailableError, QueueFullError
from onpyrunner.models import TERMINAL_STATUSES, JobRequest


class FusionError(Exception):
    """An answer of SandboxFusion's shape: its status, body and headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers


def refusal(problems: list[dict[str, Any]]) -> FusionError:
    """A 422 in FastAPI's shape."""
    return FusionError(422, {"detail": problems})


def _problem(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *loc], "msg": msg}


class FusionRoute(APIRoute):
    """A route whose errors answer in SandboxFusion's shapes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except FusionError as e:
                return JSONResponse(e.body, status_code=e.status, headers=e.headers)
            except QueueFullError as e:
                return JSONResponse(
                    {"detail": "the queue is full; try again later"},
                    status_code=503,
                    headers={"Retry-After": str(e.retry_after_s)},
                )
            except BackendUnavailableError as e:
                return JSONResponse(
                    {"detail": f"the queue backend is unavailable: {e}"},
                    status_code=503,
                    headers={"Retry-After": "1"},
                )

        return route


router = APIRouter(tags=["sandboxfusion"], route_class=FusionRoute)


async def _parse(request: Request) -> RunCodeRequest:
    raw = await request.body()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise refusal([_problem([], f"the body is not valid JSON: {e}", "json_invalid")]) from e
    try:
        return RunCodeRequest.model_validate(data)
    except ValidationError as e:
        raise refusal(
            [_problem(list(err["loc"]), err["msg"], err["type"]) for err in e.errors()]
        ) from e


def _language(name: str, runtimes: frozenset[str]) -> FusionLanguage:
    offered = languages.offered(runtimes)
    found = next((lang for lang in offered if lang.name == name), None)
    if found is None:
        supported = ", ".join(sorted(lang.name for lang in offered))
        raise refusal(
            [_problem(["language"], f"unsupported language {name!r}; supported: {supported}")]
        )
    return found


def native_problems(
    e: RequestValidationError | ValidationError, language: FusionLanguage
) -> list[dict[str, Any]]:
    """The native path's refusal, under SandboxFusion's field names and units."""
    problems = []
    for error in e.errors():
        loc = [p for p in error.get("loc", ()) if p != "body"]
        field = translate.field_of(loc, language)
        ctx = error.get("ctx") or {}
        msg = str(error.get("msg"))
        for kind in ("le", "ge"):
            if loc[:1] in (["limits"], ["compile_limits"]) and isinstance(ctx.get(kind), int):
                msg = translate.limit_message(field[0], ctx[kind], kind)
        problems.append(_problem(field, msg, str(error.get("type", "value_error"))))
    return problems


async def _native(svc: Services, body: dict[str, Any], language: FusionLanguage) -> JobRequest:
    """The job request, through the native path exactly as for POST /execute."""
    try:
        return await job_request(JobCreate(**body), svc)
    except (RequestValidationError, ValidationError) as e:
        raise refusal(native_problems(e, language)) from e


_ANSWERS: dict[int | str, dict[str, Any]] = {
    422: {"description": 'refused, naming the field: {"detail": [{type, loc, msg}]}'},
    503: {"description": "the queue is full (Retry-After) or its backend is down"},
    504: {"description": "the job did not finish in time; it goes on"},
}


@router.post(
    "/run_code",
    responses=_ANSWERS,
    openapi_extra={
        "requestBody": {
            "description": "SandboxFusion's run_code request (unknown fields are ignored)",
            "content": {"application/json": {"schema": RunCodeRequest.model_json_schema()}},
        }
    },
)
async def run_code(request: Request) -> JSONResponse:
    """Run a program and answer when it finished, in SandboxFusion's shape."""
    svc = services(request)
    parsed = await _parse(request)
    language = _language(parsed.language, await svc.accepted_languages())
    body = translate.job_body(parsed, language, svc.limits)
    job_req = await _native(svc, body, language)
    wait_s = sync_wait_s(svc, job_req)
    job = await submit_and_wait(svc, job_req, wait_s, origin(request, "sandboxfusion"))
    if job.status not in TERMINAL_STATUSES:
        message = f"job {job.id} did not finish within {wait_s:g} s; it goes on: GET /jobs/{job.id}"
        raise FusionError(504, {"detail": message})
    return JSONResponse(translate.render(job, language))


@router.get("/v1/ping")
async def ping() -> str:
    """SandboxFusion's liveness check: "pong"."""
    return "pong"
