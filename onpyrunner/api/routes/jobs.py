"""Jobs: submit, read, cancel, and watch live."""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from onpyrunner.api.errors import ErrorResponses, field_error
from onpyrunner.api.schemas import Accepted, JobCreate, JobPublic
from onpyrunner.api.services import Services, services, services_dependency
from onpyrunner.api.validate import resolve
from onpyrunner.errors import BackendUnavailableError, JobNotFoundError
from onpyrunner.models import TERMINAL_STATUSES, Job
from onpyrunner.queue.store import new_job

router = APIRouter(tags=["jobs"])
Deps = Annotated[Services, Depends(services_dependency)]

#: A WebSocket re-reads its job at least this often, in case an announcement was missed.
WS_REREAD_S = 5.0

LOCATION = {
    "Location": {"description": "/jobs/{job_id}", "required": True, "schema": {"type": "string"}}
}


def _wait_seconds(raw: str | None, maximum: float) -> float:
    if raw is None or raw.lower() in ("false", "0", "no", ""):
        return 0.0
    if raw.lower() in ("true", "yes"):
        return maximum
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise RequestValidationError(
            [field_error(("query", "wait"), "must be true, false or a number of seconds >= 0")]
        )
    return min(seconds, maximum)


def _public(
    job: Job, status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        JobPublic.of(job).model_dump(mode="json"), status_code=status_code, headers=headers
    )


@router.post(
    "/execute",
    status_code=202,
    response_model=Accepted,
    responses={
        202: {
            "description": "accepted (with ?wait: not finished in time, the job as it is)",
            "headers": LOCATION,
        },
        200: {"model": JobPublic, "description": "finished within ?wait", "headers": LOCATION},
        **ErrorResponses.submit,
    },
)
async def execute(
    body: JobCreate,
    request: Request,
    wait: Annotated[
        str | None,
        Query(
            description="true, or seconds: answer with the finished job if it finishes "
            "within this time (capped by the server's max_wait_s)"
        ),
    ] = None,
) -> JSONResponse:
    """Submit a program (a judge job when test_cases are given); get its id at once."""
    svc = services(request)  # not a dependency: this is the hot path, every step counts
    wait_s = _wait_seconds(wait, svc.settings.max_wait_s)
    job_request = resolve(body, svc.settings, await svc.languages())
    job = new_job(job_request)
    location = {"Location": f"/jobs/{job.id}"}
    if wait_s <= 0:
        await svc.store.submit(job, job_request)
        svc.metrics.submitted.inc()
        return JSONResponse(
            {"job_id": job.id, "status": job.status.value}, status_code=202, headers=location
        )
    loop = asyncio.get_running_loop()
    async with svc.store.watch(job.id) as watch:
        await svc.store.submit(job, job_request)
        svc.metrics.submitted.inc()
        deadline = loop.time() + wait_s
        current: Job | None = job
        while current is not None and current.status not in TERMINAL_STATUSES:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await watch.changed(remaining):
                current = await svc.store.get(job.id)  # the last word, announced or not
                break
            current = await svc.store.get(job.id)
    if current is None:
        raise JobNotFoundError(job.id)
    done = current.status in TERMINAL_STATUSES
    return _public(current, 200 if done else 202, location)


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=ErrorResponses.read)
async def get_job(job_id: str, svc: Deps) -> JSONResponse:
    """The job: status, timestamps, result when COMPLETED, error when FAILED."""
    job = await svc.store.get(job_id)
    if job is None:
        raise JobNotFoundError(job_id)
    return _public(job)


@router.delete("/jobs/{job_id}", response_model=JobPublic, responses=ErrorResponses.cancel)
async def cancel_job(job_id: str, svc: Deps) -> JSONResponse:
    """Cancel a pending job (it never runs) or a running one (it is stopped)."""
    return _public(await svc.store.cancel(job_id))


@router.websocket("/jobs/{job_id}/events")
async def job_events(websocket: WebSocket, job_id: str) -> None:
    """The job now, then one message per change; the last is the finished job; then close."""
    svc = services(websocket)
    await websocket.accept()
    try:
        async with svc.store.watch(job_id) as watch:
            job = await svc.store.get(job_id)
            if job is None:
                await websocket.send_json({"error": str(JobNotFoundError(job_id))})
                await websocket.close(code=4404)
                return
            last: Any = None
            while job is not None:
                view = JobPublic.of(job).model_dump(mode="json")
                seen = (view["status"], view["progress"])
                if seen != last:
                    await websocket.send_json(view)
                    last = seen
                if job.status in TERMINAL_STATUSES:
                    await websocket.close(code=1000)
                    return
                await watch.changed(WS_REREAD_S)
                job = await svc.store.get(job_id)
            await websocket.send_json({"error": str(JobNotFoundError(job_id))})
            await websocket.close(code=4404)
    except WebSocketDisconnect:
        return
    except BackendUnavailableError as e:
        with contextlib.suppress(Exception):
            await websocket.send_json({"error": f"the queue backend is unavailable: {e}"})
            await websocket.close(code=1011)
