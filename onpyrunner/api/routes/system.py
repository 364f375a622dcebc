"""Languages, health and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from onpyrunner.api.schemas import Health, Language, ServerLimits
from onpyrunner.api.services import Services, services_dependency
from onpyrunner.errors import BackendUnavailableError
from onpyrunner.languages.catalogue import spec_of

router = APIRouter(tags=["system"])
Deps = Annotated[Services, Depends(services_dependency)]


@router.get("/languages", response_model=list[Language], response_model_exclude_none=True)
async def languages(svc: Deps) -> list[Language]:
    """The runtimes the live workers can run, with versions (and a profile's packages)."""
    answer = []
    for lang in await svc.store.languages():
        spec = spec_of(lang.id)
        options = list(spec.compile.options) if spec is not None and spec.compile else []
        answer.append(
            Language(
                id=lang.id,
                name=lang.name,
                version=lang.version,
                compiler_options=options,
                packages=dict(lang.packages) if lang.packages else None,
            )
        )
    return answer


@router.get("/limits", response_model=ServerLimits)
async def limits(svc: Deps) -> ServerLimits:
    """The limit each request gets by default, the most it may ask for, and the size caps."""
    s = svc.settings
    return ServerLimits(
        defaults=svc.limits.defaults,
        maximums=svc.limits.maximums,
        max_source_kb=s.max_source_kb,
        max_stdin_kb=s.max_stdin_kb,
        max_test_cases=s.max_test_cases,
        default_performance_repeat=s.default_performance_repeat,
        max_performance_repeat=s.max_performance_repeat,
        max_body_bytes=s.max_body_bytes,
        max_wait_s=s.max_wait_s,
    )


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "not ready: the problems say why"}},
)
async def health(svc: Deps) -> JSONResponse:
    """200 when the backend answers and a worker is alive; 503 with the reasons otherwise."""
    problems: list[str] = []
    body: dict[str, object] = {"backend": svc.backend}
    try:
        await svc.store.ping()
        stats = await svc.store.stats()
        body.update(workers=stats.workers_alive, pending=stats.pending, running=stats.running)
        if stats.workers_alive == 0:
            problems.append("no worker is alive")
    except BackendUnavailableError as e:
        problems.append(f"the queue backend is unavailable: {e}")
    if svc.workers_alive is not None and not svc.workers_alive():
        problems.append("the in-process worker has stopped")
    body["status"] = "unavailable" if problems else "ok"
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=503 if problems else 200)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(svc: Deps) -> Response:
    """Prometheus metrics of this process, and queue figures read from the backend."""
    try:
        svc.metrics.observe_queue(await svc.store.stats())
        if svc.history is not None:
            svc.metrics.observe_history(await svc.store.backlog())
    except BackendUnavailableError:
        pass  # the queue figures keep their last values; the counters are still served
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)
