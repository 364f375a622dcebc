"""Batches: many jobs submitted at once (the RL shape: many samples, one test set), read
and watched together.

A batch is its jobs, each a native job (the same checks, queue and workers as POST
/execute), marked with the batch's id: they wait in the queue's batch lane, so a batch
of any size never holds single jobs back (queue/store.py: claim_order). The store keeps
the batch's job ids for job_ttl_s after its last read.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from onpyrunner.api import waiting
from onpyrunner.api.errors import ErrorResponses, field_error
from onpyrunner.api.routes.jobs import send_events, wait_seconds
from onpyrunner.api.schemas import (
    BatchAccepted,
    BatchCreate,
    BatchJob,
    BatchPublic,
    BatchTotals,
    JobCreate,
)
from onpyrunner.api.services import Services, services, services_dependency
from onpyrunner.api.submit import job_request, origin, submit_many
from onpyrunner.errors import BatchNotFoundError
from onpyrunner.models import JobRequest, Origin, TestCase

router = APIRouter(tags=["batches"])
Deps = Annotated[Services, Depends(services_dependency)]


def _submission(body: BatchCreate, sub: JobCreate) -> JobCreate:
    """A submission with the batch's defaults: its test set, and early stop."""
    changes: dict[str, Any] = {}
    if body.test_set is not None and sub.test_cases is None and sub.test_set is None:
        changes["test_set"] = body.test_set
    if "stop_on_first_failure" not in sub.model_fields_set and sub.subtasks is None:
        changes["stop_on_first_failure"] = body.stop_on_first_failure
    return sub.model_copy(update=changes) if changes else sub


async def _requests(body: BatchCreate, svc: Services, batch_id: str) -> list[JobRequest]:
    """Every submission checked as POST /execute checks a job; the errors of all of them
    at once, each under its index.

    Raises:
        RequestValidationError: some submission is not valid (or too many).
    """
    most = svc.settings.max_batch_jobs
    if len(body.submissions) > most:
        message = f"has {len(body.submissions)} jobs; the server maximum is {most}"
        raise RequestValidationError([field_error(("body", "submissions"), message)])
    errors: list[dict[str, Any]] = []
    requests: list[JobRequest] = []
    sets: dict[str, list[TestCase]] = {}  # each test set read once for the whole batch
    for i, sub in enumerate(body.submissions):
        try:
            request = await job_request(_submission(body, sub), svc, sets)
        except RequestValidationError as e:
            for error in e.errors():
                loc = list(error.get("loc", ()))
                where = ("body", "submissions", i, *loc[1:])
                errors.append(field_error(where, str(error.get("msg")), str(error.get("type"))))
            continue
        if request.interactive or request.stream:
            errors.append(
                field_error(("body", "submissions", i), "a batch has no live sessions or streams")
            )
        requests.append(request.model_copy(update={"batch_id": batch_id}))
    if errors:
        raise RequestValidationError(errors)
    return requests


@router.post(
    "/batches",
    status_code=202,
    response_model=BatchAccepted,
    responses=ErrorResponses.submit,
)
async def create_batch(body: BatchCreate, request: Request, svc: Deps) -> JSONResponse:
    """Submit many jobs at once (all or none); their ids at once."""
    batch_id = str(uuid.uuid4())
    requests = await _requests(body, svc, batch_id)
    source: Origin = origin(request)
    jobs = await submit_many(svc, [(r, source) for r in requests])
    job_ids = [job.id for job in jobs]
    await svc.store.put_batch(batch_id, job_ids)
    return JSONResponse(
        BatchAccepted(batch_id=batch_id, job_ids=job_ids).model_dump(),
        status_code=202,
        headers={"Location": f"/batches/{batch_id}"},
    )


async def _job_ids(svc: Services, batch_id: str) -> list[str]:
    job_ids = await svc.store.get_batch(batch_id)
    if job_ids is None:
        raise BatchNotFoundError(batch_id)
    return job_ids


@router.get("/batches/{batch_id}", response_model=BatchPublic, responses=ErrorResponses.read)
async def get_batch(
    batch_id: str,
    svc: Deps,
    wait: Annotated[
        str | None,
        Query(
            description="true, or seconds: answer once every job finished, or when this "
            "time passed (capped by the server's max_wait_s)"
        ),
    ] = None,
) -> BatchPublic:
    """Each job's status, verdict, passed/total, score and usage, and the totals."""
    wait_s = wait_seconds(wait, svc.settings.max_wait_s)
    job_ids = await _job_ids(svc, batch_id)
    async with waiting.follow_many(svc.store, job_ids) as follower:
        async for _ in follower.finished(wait_s):
            pass
        jobs = [BatchJob.of(i, job) for i, job in zip(job_ids, follower.jobs, strict=True)]
    return BatchPublic(batch_id=batch_id, totals=BatchTotals.of(jobs), jobs=jobs)


@router.websocket("/batches/{batch_id}/events")
async def batch_events(websocket: WebSocket, batch_id: str) -> None:
    """One message per job as it finishes (those finished already first), then the
    totals; then close."""
    await websocket.accept()
    svc = services(websocket)
    await send_events(websocket, _send_batch(websocket, svc, batch_id))


async def _send_batch(websocket: WebSocket, svc: Services, batch_id: str) -> None:
    job_ids = await svc.store.get_batch(batch_id)
    if job_ids is None:
        await websocket.send_json({"error": str(BatchNotFoundError(batch_id))})
        await websocket.close(code=4404)
        return
    async with waiting.follow_many(svc.store, job_ids) as follower:
        async for i in follower.finished(svc.settings.job_ttl_s):
            brief = BatchJob.of(job_ids[i], follower.jobs[i])
            await websocket.send_json({"type": "job", **brief.model_dump(mode="json")})
        jobs = [BatchJob.of(i, job) for i, job in zip(job_ids, follower.jobs, strict=True)]
    totals = BatchTotals.of(jobs).model_dump(mode="json")
    await websocket.send_json({"type": "totals", "batch_id": batch_id, **totals})
    await websocket.close(code=1000)
