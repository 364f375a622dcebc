"""Judge0 submissions: create (one or a batch), read (one or a batch), delete.

A submission is an OnPyRunner job: its token is the job id, it goes through the native
submission path (api/submit.py) exactly as POST /execute does, and a submission with
expected_output is a one-case judge job (the worker compares, with the "lines" checker,
which is Judge0's comparison). The native path's errors come back in Judge0's shapes:
here, in `Judge0Route` and `_problems_of`.
"""

from __future__ import annotations

import asyncio
import json
import re
from base64 import b64encode
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from onpyrunner.api.auth import token_matches
from onpyrunner.api.compat.judge0 import openapi
from onpyrunner.api.compat.judge0.callbacks import CallbackURLError, check_url
from onpyrunner.api.compat.judge0.schemas import (
    BY_NATIVE,
    MAX_BATCH,
    FieldsError,
    Problems,
    SubmissionIn,
    flag,
    parse_submission,
    plain,
    requested_fields,
)
from onpyrunner.api.compat.judge0.state import Judge0, judge0_dependency
from onpyrunner.api.removal import remove_finished
from onpyrunner.api.schemas import FileIn, JobCreate, LimitsIn
from onpyrunner.api.services import Services, services_dependency
from onpyrunner.api.submit import job_request, origin, submit, submit_and_wait, submit_many
from onpyrunner.errors import JobNotFoundError, QueueFullError
from onpyrunner.history import queries
from onpyrunner.history.records import Entry
from onpyrunner.limits import Limits
from onpyrunner.models import (
    TERMINAL_STATUSES,
    Job,
    JobRequest,
    JobStatus,
    JudgeResult,
    Origin,
    Outcome,
    RunResult,
    TestCase,
    TestResult,
    Timestamps,
    Usage,
    Verdict,
)

#: Where the native path's problems (native field paths) land in Judge0's names.
_NATIVE_FIELDS = {
    "source_code": "source_code",
    "stdin": "stdin",
    "test_cases": "stdin",
    "language": "language_id",
    "files": "additional_files",
    "args": "command_line_arguments",
    "compiler_options": "compiler_options",
    **{native: field.name for native, field in BY_NATIVE.items()},
}


class Judge0Error(Exception):
    """An answer of Judge0's own shape, raised from deep inside a route."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Judge0Error:
    return Judge0Error(status, {"error": message}, headers)


class Judge0Route(APIRoute):
    """A route whose errors answer in Judge0's shapes: its own (Judge0Error), and the
    native path's that Judge0 has a word for (a full queue). Other native errors (an
    unknown token, the backend down) keep the native answer, as before."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Judge0Error as e:
                return JSONResponse(e.body, status_code=e.status, headers=e.headers)
            except QueueFullError as e:
                return JSONResponse(
                    {"error": "queue is full"},
                    status_code=503,
                    headers={"Retry-After": str(e.retry_after_s)},
                )

        return route


router = APIRouter(tags=["judge0"], route_class=Judge0Route)
Deps = Annotated[Services, Depends(services_dependency)]
State = Annotated[Judge0, Depends(judge0_dependency)]
Base64 = Annotated[str | None, Query(description='"true": base64 in and out')]
Fields = Annotated[str | None, Query(description="comma-separated attributes, or *")]


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


def _message(error: dict[str, Any], native: str | None) -> str:
    """A native problem's message, in Judge0's units and words for a limit field."""
    field = BY_NATIVE.get(native or "")
    ctx = error.get("ctx") or {}
    for key, words in (("le", "less than or equal to"), ("ge", "greater than or equal to")):
        bound = ctx.get(key)
        if field is not None and isinstance(bound, int):
            return f"must be {words} {plain(field.of_native(bound))}"
    return str(error.get("msg"))


def _problems_of(e: RequestValidationError) -> Problems:
    problems: Problems = {}
    for error in e.errors():
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        native = next((p for p in loc if p in _NATIVE_FIELDS), None)
        field = _NATIVE_FIELDS[native] if native is not None else "base"
        problems.setdefault(field, []).append(_message(error, native))
    return problems


async def _request(sub: SubmissionIn, svc: Services) -> tuple[JobRequest | None, Problems]:
    """The job request, through the native path exactly as for POST /execute."""
    judged = sub.expected_output is not None
    try:
        body = JobCreate(
            language=sub.language.runtime,
            source_code=sub.source_code,
            stdin="" if judged else sub.stdin,
            limits=LimitsIn(**sub.limits),
            test_cases=[TestCase(stdin=sub.stdin, expected_stdout=sub.expected_output or "")]
            if judged
            else None,
            checker="lines",
            files={
                path: FileIn(content=b64encode(data).decode(), encoding="base64")
                for path, data in sub.files.items()
            }
            or None,
            args=sub.args or None,
            compiler_options=sub.compiler_options or None,
        )
        return await job_request(body, svc), {}
    except ValidationError as e:  # the native request's own checks (a limit's lower bound)
        return None, _problems_of(RequestValidationError(e.errors()))
    except RequestValidationError as e:
        return None, _problems_of(e)


async def _prepare(
    data: object, base64: bool, state: Judge0
) -> tuple[tuple[JobRequest, SubmissionIn] | None, Problems]:
    """(job request, submission) of one submission, or its problems."""
    svc = state.services
    sub, problems = parse_submission(
        data,
        base64=base64,
        runtimes=await svc.accepted_languages(),
        stack_kb=state.stack_kb,
        max_files=svc.settings.max_files,
        max_files_bytes=svc.settings.max_files_kb * 1024,
    )
    callback = data.get("callback_url") if isinstance(data, dict) else None
    if isinstance(callback, str) and callback and "callback_url" not in problems:
        try:
            await check_url(callback, svc.settings.judge0_allow_internal_callbacks)
        except CallbackURLError as e:
            problems.setdefault("callback_url", []).append(str(e))
    if problems or sub is None:
        return None, problems
    request, problems = await _request(sub, svc)
    if request is None:
        return None, problems
    return (request, sub), {}


def _echo(sub: SubmissionIn) -> dict[str, str]:
    """What Judge0 answers back about a submission, kept with its job (its origin)."""
    echo = {"source_code": sub.source_code, "language_id": str(sub.language.id)}
    if sub.stdin:
        echo["stdin"] = sub.stdin
    if sub.expected_output is not None:
        echo["expected_output"] = sub.expected_output
    if sub.callback_url:
        echo["callback_url"] = sub.callback_url
    echo.update(sub.echo)
    return echo


def _origin(request: Request, sub: SubmissionIn) -> Origin:
    return origin(request, "judge0", _echo(sub))


@router.post("/submissions/batch", status_code=201, **openapi.CREATE_BATCH)
async def create_batch(
    request: Request, svc: Deps, state: State, base64_encoded: Base64 = None
) -> JSONResponse:
    """Create up to 20 submissions; one answer per submission, in order: a token or the
    submission's problems. The valid ones are queued together, or (queue full) none."""
    data = await _body(request)
    items = data.get("submissions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise _error(400, "there should be at least one submission in a batch")
    if len(items) > MAX_BATCH:
        raise _error(
            400, f"number of submissions in a batch should be less than or equal to {MAX_BATCH}"
        )
    prepared = [await _prepare(item, flag(base64_encoded), state) for item in items]
    valid = [p for p, _ in prepared if p is not None]
    queued = (
        await submit_many(svc, [(req, _origin(request, sub)) for req, sub in valid])
        if valid
        else []
    )
    jobs = iter(queued)
    answers: list[Any] = []
    for found, problems in prepared:
        if found is None:
            answers.append(problems)
            continue
        job = next(jobs)
        if found[1].callback_url:
            state.callbacks.follow(job.id, found[1].callback_url)
        answers.append({"token": job.id})
    return JSONResponse(answers, status_code=201 if valid else 422)


@router.get("/submissions/batch", responses=openapi.READ_BATCH)
async def read_batch(
    request: Request,
    svc: Deps,
    state: State,
    base64_encoded: Base64 = None,
    fields: Fields = None,
    tokens: str | None = None,
) -> JSONResponse:
    """Up to 20 submissions by token (comma-separated); null for an unknown token."""
    wanted = _fields(fields)
    raw = tokens if tokens is not None else request.headers.get("tokens", "")
    names = [t for t in raw.strip().split(",") if t]
    if len(names) > MAX_BATCH:
        raise _error(
            400, f"number of submissions in a batch should be less than or equal to {MAX_BATCH}"
        )
    if not names:
        raise _error(400, "there should be at least one submission in a batch")
    jobs = await asyncio.gather(*(svc.store.get(t.strip()) for t in names))
    rendered = [
        None if job is None else await state.render(job, wanted, flag(base64_encoded))
        for job in jobs
    ]
    return JSONResponse({"submissions": rendered})


@router.post("/submissions", status_code=201, **openapi.CREATE)
async def create(
    request: Request,
    state: State,
    base64_encoded: Base64 = None,
    wait: Annotated[str | None, Query(description='"true": answer when done')] = None,
    fields: Fields = None,
) -> JSONResponse:
    """Create a submission: 201 {"token"}; with wait=true, 201 with the submission once it
    finished (or as it is after the server's max_wait_s)."""
    wanted = _fields(fields)
    prepared, problems = await _prepare(await _body(request), flag(base64_encoded), state)
    if prepared is None:
        return JSONResponse(problems, status_code=422)
    job_req, sub = prepared
    svc = state.services
    callback = sub.callback_url

    def follow_callback(job_id: str) -> None:
        if callback:
            state.callbacks.follow(job_id, callback)

    if not flag(wait):
        job = await submit(svc, job_req, _origin(request, sub))
        follow_callback(job.id)
        return JSONResponse({"token": job.id}, status_code=201)
    done = await submit_and_wait(
        svc,
        job_req,
        svc.settings.max_wait_s,
        _origin(request, sub),
        submitted=lambda job: follow_callback(job.id),
    )
    return JSONResponse(await state.render(done, wanted, flag(base64_encoded)), status_code=201)


#: Judge0's authorization header (its AUTHZ_HEADER), also taken as a query parameter.
AUTHZ_NAME = "X-Auth-User"
#: Judge0's per_page default (will_paginate's, set by its Submission model), and the most
#: one page holds here (Judge0 sets none; every entry is a row read from the history).
PER_PAGE = 20
MAX_PER_PAGE = 100
_RUBY_INT = re.compile(r"^\s*([+-]?\d+(?:_\d+)*)")


def _ruby_int(raw: str | None, default: int) -> int:
    """A query parameter as Ruby's String#to_i reads it: leading digits, else 0."""
    if raw is None:
        return default
    match = _RUBY_INT.match(raw)
    return int(match.group(1).replace("_", "")) if match else 0


def _authorized(request: Request, tokens: list[str]) -> bool:
    """Judge0's authorize_request: a configured AUTHZ token, given as X-Auth-User."""
    if not tokens:
        return False
    offered = request.headers.get(AUTHZ_NAME) or request.query_params.get(AUTHZ_NAME) or ""
    return token_matches([offered], [t.encode() for t in tokens]) is not None


def _job_of(entry: Entry, content: Mapping[Any, Any] | None) -> Job:
    """A job as the history keeps it, to render as Judge0 does (outputs only where the
    history keeps texts)."""
    texts = content or {}
    usage = (
        Usage(
            cpu_time_ms=entry.usage.cpu_time_ms,
            wall_time_ms=entry.usage.wall_time_ms,
            memory_kb=entry.usage.memory_kb,
        )
        if entry.usage is not None
        else Usage(cpu_time_ms=0, wall_time_ms=0, memory_kb=0)
    )
    result: RunResult | JudgeResult | None = None
    if entry.status == JobStatus.COMPLETED and entry.outcome is not None:
        run = {
            "stdout": texts.get("stdout") or "",
            "stderr": texts.get("stderr") or "",
            "exit_code": entry.exit_code,
            "signal": entry.signal,
            "usage": usage,
        }
        if entry.judge:
            verdict = Verdict(entry.outcome)
            outcome = (
                Outcome.SUCCESS
                if verdict in (Verdict.ACCEPTED, Verdict.WRONG_ANSWER)
                else Outcome(verdict.value)
                if verdict.value in Outcome.__members__
                else None
            )
            case = TestResult(name=None, verdict=verdict, outcome=outcome, **run)
            result = JudgeResult(
                verdict=verdict,
                passed=entry.passed or 0,
                total=entry.total or 1,
                score=entry.score or 0.0,
                usage=usage,
                tests=[case],
                compile_output=texts.get("compile_output"),
            )
        else:
            result = RunResult(
                outcome=Outcome(entry.outcome), compile_output=texts.get("compile_output"), **run
            )
    stamps = entry.timestamps
    return Job(
        id=entry.job_id,
        status=JobStatus(entry.status),
        language=entry.language,
        limits=Limits.model_validate(entry.limits),
        judge=entry.judge,
        timestamps=Timestamps(**stamps.model_dump()),
        result=result,
        error=entry.error,
        attempts=entry.attempts,
        origin=Origin(api=entry.api, data=dict(texts.get("origin_data") or {})),
    )


@router.get("/submissions", responses=openapi.LIST)
async def index(
    request: Request,
    svc: Deps,
    state: State,
    base64_encoded: Base64 = None,
    fields: Fields = None,
    page: Annotated[str | None, Query(description="page number, from 1")] = None,
    per_page: Annotated[
        str | None, Query(description=f"submissions per page (default 20, at most {MAX_PER_PAGE})")
    ] = None,
) -> Response:
    """The submissions made through this API that ended, newest first, a page at a time,
    from the history; needs an X-Auth-User authorization token, as Judge0's list does."""
    tokens = [t.get_secret_value() for t in svc.settings.judge0_authz_tokens]
    if not _authorized(request, tokens):
        return Response(status_code=403)  # Judge0: head :forbidden
    wanted = _fields(fields)
    number = _ruby_int(page, 1)
    size = _ruby_int(per_page, PER_PAGE)
    if number <= 0:
        raise _error(400, f"invalid page: {number}")
    if size <= 0:
        raise _error(400, f"invalid per_page: {size}")
    size = min(size, MAX_PER_PAGE)
    store = svc.history_store()
    found = await queries.numbered_page(store, queries.Filters(api="judge0"), number, size)
    contents = await store.contents([e.job_id for e in found.entries])
    submissions = [
        await state.render(_job_of(e, contents.get(e.job_id)), wanted, flag(base64_encoded))
        for e in found.entries
    ]
    pages = -(-found.total // size)
    meta = {
        "current_page": number,
        "next_page": number + 1 if number < pages else None,
        "prev_page": number - 1 if number > 1 else None,
        "total_pages": pages,
        "total_count": found.total,
    }
    return JSONResponse({"submissions": submissions, "meta": meta})


# Tokens are UUIDs (job ids): "/submissions/batch" is then no token, and a method the batch
# routes lack (DELETE) gets 405, not "submission batch not found".
@router.get("/submissions/{token:uuid}", responses=openapi.READ)
async def read(
    token: UUID, svc: Deps, state: State, base64_encoded: Base64 = None, fields: Fields = None
) -> JSONResponse:
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
        status = (await state.render(job, ("status",)))["status"]
        raise _error(
            400,
            "submission cannot be deleted because its status is "
            f"{status['id']} ({status['description']})",
        )
    if not await remove_finished(svc, job):
        raise JobNotFoundError(job_id)
    return JSONResponse(await state.render(job, wanted, True))
