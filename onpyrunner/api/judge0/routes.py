"""Judge0 submissions: create (one or a batch), read (one or a batch), delete.

A submission is an OnPyRunner job: its token is the job id, it goes through the store
exactly as POST /execute does, and a submission with expected_output is a one-case judge
job (the worker compares, with the "lines" checker, which is Judge0's comparison).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from onpyrunner.api.judge0 import openapi
from onpyrunner.api.judge0.callbacks import CallbackURLError, check_url
from onpyrunner.api.judge0.schemas import (
    MAX_BATCH,
    FieldsError,
    Problems,
    SubmissionIn,
    flag,
    parse_submission,
    requested_fields,
)
from onpyrunner.api.judge0.state import Judge0, judge0
from onpyrunner.api.schemas import JobCreate, LimitsIn
from onpyrunner.api.services import Services, services
from onpyrunner.api.validate import resolve
from onpyrunner.errors import JobNotFoundError, QueueFullError
from onpyrunner.models import TERMINAL_STATUSES, Job, JobRequest, TestCase
from onpyrunner.queue.store import new_job

router = APIRouter(tags=["judge0"])
Deps = Annotated[Services, Depends(services)]
State = Annotated[Judge0, Depends(judge0)]
Base64 = Annotated[str | None, Query(description='"true": base64 in and out')]
Fields = Annotated[str | None, Query(description="comma-separated attributes, or *")]

#: Where resolve()'s errors (native field paths) land in Judge0's names.
_NATIVE_FIELDS = {
    "source_code": "source_code",
    "stdin": "stdin",
    "test_cases": "stdin",
    "language": "language_id",
    "cpu_time_ms": "cpu_time_limit",
    "wall_time_ms": "wall_time_limit",
    "memory_mb": "memory_limit",
    "max_processes": "max_processes_and_or_threads",
    "max_file_kb": "max_file_size",
}


class Judge0Error(Exception):
    """An answer of Judge0's own shape, raised from deep inside a route."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Judge0Error:
    return Judge0Error(status, {"error": message}, headers)


def _fields(raw: str | None) -> tuple[str, ...]:
    try:
        return requested_fields(raw)
    except FieldsError as e:
        raise _error(400, str(e)) from e


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise _error(400, f"the body is not valid JSON: {e}") from e
    except RecursionError as e:  # what json.loads raises past about 1,000 nested levels
        raise _error(400, "the body is not valid JSON: it is nested too deeply") from e


def _problems_of(e: RequestValidationError) -> Problems:
    problems: Problems = {}
    for error in e.errors():
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        field = next((_NATIVE_FIELDS[p] for p in reversed(loc) if p in _NATIVE_FIELDS), "base")
        problems.setdefault(field, []).append(str(error.get("msg")))
    return problems


async def _request(sub: SubmissionIn, state: Judge0) -> tuple[JobRequest | None, Problems]:
    """The job request, with the server's limits applied exactly as for POST /execute."""
    judged = sub.expected_output is not None
    body = JobCreate(
        language=sub.language.runtime,
        source_code=sub.source_code,
        stdin="" if judged else sub.stdin,
        limits=LimitsIn(**sub.limits),
        test_cases=[TestCase(stdin=sub.stdin, expected_stdout=sub.expected_output or "")]
        if judged
        else None,
        checker="lines",
    )
    try:
        return resolve(body, state.services.settings, await state.services.languages()), {}
    except RequestValidationError as e:
        return None, _problems_of(e)


async def _prepare(data: object, base64: bool, state: Judge0) -> tuple[Any, Problems]:
    """(job request, submission) of one submission, or its problems."""
    settings = state.services.settings
    sub, problems = parse_submission(
        data, base64=base64, runtimes=await state.runtimes(), settings=settings,
        stack_kb=state.stack_kb,
    )  # fmt: skip
    callback = data.get("callback_url") if isinstance(data, dict) else None
    if isinstance(callback, str) and callback and "callback_url" not in problems:
        try:
            await check_url(callback, settings.judge0_allow_internal_callbacks)
        except CallbackURLError as e:
            problems.setdefault("callback_url", []).append(str(e))
    if problems or sub is None:
        return None, problems
    request, problems = await _request(sub, state)
    if request is None:
        return None, problems
    return (request, sub), {}


def _job(request: JobRequest, sub: SubmissionIn) -> Job:
    """A new job that keeps what Judge0 answers back (see Job.echo)."""
    echo = {"source_code": sub.source_code, "language_id": str(sub.language.id)}
    if sub.stdin:
        echo["stdin"] = sub.stdin
    if sub.expected_output is not None:
        echo["expected_output"] = sub.expected_output
    if sub.callback_url:
        echo["callback_url"] = sub.callback_url
    return new_job(request).model_copy(update={"echo": echo})


async def _submit(job: Job, request: JobRequest, callback: str | None, state: Judge0) -> None:
    svc = state.services
    try:
        await svc.store.submit(job, request)
    except QueueFullError as e:
        raise _error(503, "queue is full", {"Retry-After": str(e.retry_after_s)}) from e
    svc.metrics.submitted.inc()
    if callback:
        state.callbacks.follow(job.id, callback)


async def _submit_and_wait(
    job: Job, request: JobRequest, callback: str | None, state: Judge0
) -> Job:
    """Submit, then wait up to the server's max_wait_s; the job as it is then."""
    store = state.services.store
    loop = asyncio.get_running_loop()
    async with store.watch(job.id) as watch:
        await _submit(job, request, callback, state)
        deadline = loop.time() + state.services.settings.max_wait_s
        current: Job | None = job
        while current is not None and current.status not in TERMINAL_STATUSES:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await watch.changed(remaining):
                current = await store.get(job.id)
                break
            current = await store.get(job.id)
    if current is None:
        raise JobNotFoundError(job.id)
    return current


@router.post("/submissions/batch", status_code=201, **openapi.CREATE_BATCH)
async def create_batch(request: Request, svc: Deps, state: State,
                       base64_encoded: Base64 = None) -> JSONResponse:  # fmt: skip
    """Create up to 20 submissions; one answer per submission, in order: a token or the
    submission's problems."""
    data = await _body(request)
    items = data.get("submissions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise _error(400, "there should be at least one submission in a batch")
    if len(items) > MAX_BATCH:
        raise _error(400, "number of submissions in a batch should be less than or equal "
                          f"to {MAX_BATCH}")  # fmt: skip
    count = len(items)
    stats = await svc.store.stats()
    if stats.pending + stats.running + count > svc.settings.max_pending_jobs:
        raise _error(503, "queue is full", {"Retry-After": str(svc.settings.retry_after_s)})
    answers: list[Any] = []
    for item in items:
        prepared, problems = await _prepare(item, flag(base64_encoded), state)
        if prepared is None:
            answers.append(problems)
            continue
        job_request, sub = prepared
        job = _job(job_request, sub)
        await _submit(job, job_request, sub.callback_url, state)
        answers.append({"token": job.id})
    created = any("token" in a for a in answers)
    return JSONResponse(answers, status_code=201 if created else 422)


@router.get("/submissions/batch", responses=openapi.READ_BATCH)
async def read_batch(request: Request, svc: Deps, state: State, base64_encoded: Base64 = None,
                     fields: Fields = None, tokens: str | None = None) -> JSONResponse:  # fmt: skip
    """Up to 20 submissions by token (comma-separated); null for an unknown token."""
    wanted = _fields(fields)
    raw = tokens if tokens is not None else request.headers.get("tokens", "")
    names = [t for t in raw.strip().split(",") if t]
    if len(names) > MAX_BATCH:
        raise _error(400, "number of submissions in a batch should be less than or equal "
                          f"to {MAX_BATCH}")  # fmt: skip
    if not names:
        raise _error(400, "there should be at least one submission in a batch")
    jobs = await asyncio.gather(*(svc.store.get(t.strip()) for t in names))
    return JSONResponse({"submissions": [
        None if job is None else await state.render(job, wanted, flag(base64_encoded))
        for job in jobs
    ]})  # fmt: skip


@router.post("/submissions", status_code=201, **openapi.CREATE)
async def create(request: Request, state: State, base64_encoded: Base64 = None,
                 wait: Annotated[str | None, Query(description='"true": answer when done')] = None,
                 fields: Fields = None) -> JSONResponse:  # fmt: skip
    """Create a submission: 201 {"token"}; with wait=true, 201 with the submission once it
    finished (or as it is after the server's max_wait_s)."""
    wanted = _fields(fields)
    prepared, problems = await _prepare(await _body(request), flag(base64_encoded), state)
    if prepared is None:
        return JSONResponse(problems, status_code=422)
    job_request, sub = prepared
    job = _job(job_request, sub)
    if not flag(wait):
        await _submit(job, job_request, sub.callback_url, state)
        return JSONResponse({"token": job.id}, status_code=201)
    done = await _submit_and_wait(job, job_request, sub.callback_url, state)
    return JSONResponse(await state.render(done, wanted, flag(base64_encoded)), status_code=201)


# Tokens are UUIDs (job ids): "/submissions/batch" is then no token, and a method the batch
# routes lack (DELETE) gets 405, not "submission batch not found".
@router.get("/submissions/{token:uuid}", responses=openapi.READ)
async def read(token: UUID, svc: Deps, state: State, base64_encoded: Base64 = None,
               fields: Fields = None) -> JSONResponse:  # fmt: skip
    """A submission."""
    wanted = _fields(fields)
    job = await svc.store.get(str(token))
    if job is None:
        raise JobNotFoundError(str(token))
    return JSONResponse(await state.render(job, wanted, flag(base64_encoded)))


@router.delete("/submissions/{token:uuid}", responses=openapi.DELETE)
async def delete(token: UUID, svc: Deps, state: State, fields: Fields = None) -> JSONResponse:
    """Delete a finished submission; answers it as it was (always base64, as Judge0 does).
    A submission in the queue or running cannot be deleted (400)."""
    wanted = _fields(fields)
    job_id = str(token)
    job = await svc.store.get(job_id)
    if job is None:
        raise JobNotFoundError(job_id)
    if job.status not in TERMINAL_STATUSES:
        shown = await state.render(job, ("status",))
        status = shown["status"]
        raise _error(400, "submission cannot be deleted because its status is "
                          f"{status['id']} ({status['description']})")  # fmt: skip
    if not await svc.store.delete(job_id):
        raise JobNotFoundError(job_id)
    return JSONResponse(await state.render(job, wanted, True))


async def judge0_error(_: Request, exc: Exception) -> Response:
    """Judge0Error -> its answer."""
    assert isinstance(exc, Judge0Error)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
