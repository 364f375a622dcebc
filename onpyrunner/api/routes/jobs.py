"""Jobs: submit, read, cancel, and watch live."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from onpyrunner.aio import stop
from onpyrunner.api import live
from onpyrunner.api.errors import ErrorResponses, field_error
from onpyrunner.api.removal import remove_finished, remove_from_history
from onpyrunner.api.schemas import Accepted, JobCreate, JobPublic
from onpyrunner.api.services import Services, services, services_dependency
from onpyrunner.api.submit import job_request, origin, submit, submit_and_wait
from onpyrunner.errors import BackendUnavailableError, JobFinishedError, JobNotFoundError
from onpyrunner.models import TERMINAL_STATUSES, Job
from onpyrunner.queue.session import OutputKind

router = APIRouter(tags=["jobs"])
Deps = Annotated[Services, Depends(services_dependency)]

LOCATION = {
    "Location": {"description": "/jobs/{job_id}", "required": True, "schema": {"type": "string"}}
}


def wait_seconds(raw: str | None, maximum: float) -> float:
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
    wait_s = wait_seconds(wait, svc.settings.max_wait_s)
    job_req = await job_request(body, svc)
    if wait_s <= 0:
        job = await submit(svc, job_req, origin(request))
        return JSONResponse(
            {"job_id": job.id, "status": job.status.value},
            status_code=202,
            headers={"Location": f"/jobs/{job.id}"},
        )
    job = await submit_and_wait(svc, job_req, wait_s, origin(request))
    done = job.status in TERMINAL_STATUSES
    return _public(job, 200 if done else 202, {"Location": f"/jobs/{job.id}"})


@router.get("/jobs/{job_id}", response_model=JobPublic, responses=ErrorResponses.read)
async def get_job(job_id: str, svc: Deps) -> JSONResponse:
    """The job: status, timestamps, result when COMPLETED, error when FAILED."""
    job = await svc.store.get(job_id)
    if job is None:
        raise JobNotFoundError(job_id)
    return _public(job)


@router.delete(
    "/jobs/{job_id}",
    response_model=JobPublic,
    responses={
        **ErrorResponses.cancel,
        204: {"description": "the job's record had expired: its history row was removed"},
    },
)
async def cancel_job(job_id: str, svc: Deps) -> Response:
    """Cancel a pending job (it never runs) or a running one (it is stopped); remove a
    finished one, with its history row (answered as it was)."""
    try:
        return _public(await svc.store.cancel(job_id))
    except JobFinishedError:
        job = await svc.store.get(job_id)
        if job is None:  # removed or expired meanwhile
            raise JobNotFoundError(job_id) from None
        await remove_finished(svc, job)
        return _public(job)
    except JobNotFoundError:
        if await remove_from_history(svc, job_id):
            return Response(status_code=204)
        raise


@router.websocket("/jobs/{job_id}/events")
async def job_events(websocket: WebSocket, job_id: str) -> None:
    """The job now, then one message per change; the last is the finished job; then close."""
    svc = services(websocket)
    await websocket.accept()
    await send_events(websocket, _send_events(websocket, svc, job_id))


async def send_events(websocket: WebSocket, sender: Coroutine[Any, Any, None]) -> None:
    """Run sender (an events socket's messages) until it ends or the client leaves, which
    stops it at once, not when its job ends; a queue backend that goes down ends the
    socket with 1011 and says so."""

    async def sending() -> None:
        try:
            await sender
        except WebSocketDisconnect:
            return
        except BackendUnavailableError as e:
            with contextlib.suppress(Exception):
                await websocket.send_json({"error": f"the queue backend is unavailable: {e}"})
                await websocket.close(code=1011)

    async def listening() -> None:  # what the client sends is read and ignored
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return

    tasks = [asyncio.create_task(sending()), asyncio.create_task(listening())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await stop(tasks)


async def _send_events(websocket: WebSocket, svc: Services, job_id: str) -> None:
    job = await svc.store.get(job_id)
    with_output = job is not None and job.stream
    async with live.following(svc.store, job_id, with_output, svc.settings.job_ttl_s) as follower:
        last: Any = None
        async for item in follower.items():
            if isinstance(item, live.Written):  # a `stream` job's output as written
                for entry in item.entries:
                    if entry.kind is not OutputKind.STARTED:
                        await websocket.send_json({"type": entry.kind.value, "data": entry.data})
            elif isinstance(item, live.Change):
                view = JobPublic.of(item.job).model_dump(mode="json")
                seen = (view["status"], view["progress"])
                if seen != last:
                    await websocket.send_json(view)
                    last = seen
                if item.job.status in TERMINAL_STATUSES:
                    await websocket.close(code=1000)
                    return
            else:
                await websocket.send_json({"error": str(JobNotFoundError(job_id))})
                await websocket.close(code=4404)
                return
        await websocket.close(code=1000)  # not finished when its record's lifetime passed
