"""HTTP shapes, separate from the internal models: what clients send and receive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from onpyrunner.judge.testsets import ID_PATTERN
from onpyrunner.limits import BY_NAME, Limits
from onpyrunner.models import (
    TERMINAL_STATUSES,
    Checker,
    Interactor,
    Job,
    JobStatus,
    JudgeResult,
    Progress,
    RunResult,
    Subtask,
    TestCase,
    Text,
    Usage,
    Weights,
)


def _limit(name: str) -> Any:
    """A requested limit: its lower bound and words come from the limit vocabulary (the
    server's maximums are settings, checked by LimitTable.resolve)."""
    spec = BY_NAME[name]
    unit = f", {spec.unit}" if spec.unit else ""
    return Field(None, ge=spec.minimum, description=f"{spec.description}{unit}")


class LimitsIn(BaseModel):
    """Requested limits; a field left out takes the server's default."""

    # strict: an integer is an integer, not "2000", 2000.0 or true (pydantic would coerce)
    model_config = ConfigDict(extra="forbid", strict=True)

    cpu_time_ms: int | None = _limit("cpu_time_ms")
    wall_time_ms: int | None = _limit("wall_time_ms")
    memory_mb: int | None = _limit("memory_mb")
    output_kb: int | None = _limit("output_kb")
    max_processes: int | None = _limit("max_processes")
    max_file_kb: int | None = _limit("max_file_kb")


class ReferenceIn(BaseModel):
    """The program a submission's performance is compared with."""

    model_config = ConfigDict(extra="forbid")

    language: Text | None = Field(
        None, description="a runtime id from GET /languages; none: the submission's language"
    )
    source_code: Text


class PerformanceIn(BaseModel):
    """A judge job's performance measurement (docs/performance.md)."""

    model_config = ConfigDict(extra="forbid")

    reference: ReferenceIn | None = Field(
        None,
        description="the program to compare with, run interleaved with the submission; "
        "none: the score compares with the job's limits",
    )
    cases: list[Annotated[int, Field(ge=0, strict=True)]] | None = Field(
        None, min_length=1, description="indexes in test_cases of the cases measured; none: all"
    )
    repeat: int | None = Field(
        None,
        ge=1,
        strict=True,
        description="runs of each measured case, of each program; none: the server's "
        "default (GET /limits: default_performance_repeat, at most max_performance_repeat)",
    )
    weights: Weights = Field(
        default_factory=Weights, description="CPU time 0.75 and memory 0.25 by default"
    )


class FileIn(BaseModel):
    """A file beside the program: its content, as text or base64."""

    model_config = ConfigDict(extra="forbid")

    content: Text
    encoding: Literal["utf8", "base64"] = Field(
        "utf8", description="utf8: content is the file's text; base64: its bytes, base64"
    )


class JobCreate(BaseModel):
    """POST /execute: a program to run, or to judge when test_cases are given."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "language": "python",
                    "source_code": "print(int(input()) * 2)",
                    "stdin": "21\n",
                    "limits": {"cpu_time_ms": 2000, "memory_mb": 128},
                }
            ]
        },
    )

    language: Text = Field("python", description="a runtime id from GET /languages")
    source_code: Text
    stdin: Text = ""
    limits: LimitsIn | None = None
    compile_limits: LimitsIn | None = Field(
        None,
        description="limits of the program's compile (compiled languages; ignored for the "
        "others): each at most the server's compile value, which a field left out takes",
    )
    test_cases: list[TestCase] | None = None
    test_set: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="the id of a stored test set (POST /test-sets), instead of test_cases",
    )
    checker: Checker = "lines"
    stop_on_first_failure: bool = Field(False, strict=True)  # true or false, not 0 or "yes"
    interactive: bool = Field(
        False,
        strict=True,
        description="a live session: stdin stays open for what clients send on "
        "WS /jobs/{job_id}/session, output is sent as it is written; plain runs only; the wall "
        "time (waiting for input counts) has its own default and maximum",
    )
    stream: bool = Field(
        False,
        strict=True,
        description="the events WebSocket also sends output as it is written; plain runs only",
    )
    interleave_output: bool = Field(
        False, strict=True, description="the result's output: stdout and stderr interleaved"
    )
    files: dict[Text, FileIn] | None = Field(
        None,
        description="more files in the program's working directory: relative path -> "
        '{"content", "encoding": "utf8" | "base64"}',
    )
    args: list[Text] | None = Field(None, description="arguments after the run command")
    compiler_options: list[Text] | None = Field(
        None,
        description="more compiler options (compiled languages), each allowed by the "
        "language's allow-list (GET /languages: compiler_options)",
    )
    fetch_files: list[Text] | None = Field(
        None,
        description="files of the working directory to give back after the run (relative "
        "paths): the result's files, path -> base64 (plain runs only)",
    )
    performance: PerformanceIn | None = Field(
        None, description="measure how fast and lean the submission is (needs test_cases)"
    )
    interactor: Interactor | None = Field(
        None, description="an interactive problem: the interactor each case's run talks to"
    )
    subtasks: list[Subtask] | None = Field(
        None, description="IOI-style subtasks: groups of cases scored together"
    )


class TestSetCreate(BaseModel):
    """POST /test-sets: cases stored once, named by their content's hash."""

    __test__ = False  # not a pytest class, despite the name

    model_config = ConfigDict(extra="forbid")

    test_cases: list[TestCase] = Field(min_length=1)


class TestSetStored(BaseModel):
    """201 answer to POST /test-sets."""

    __test__ = False

    id: str = Field(description="sha256:<hex>: the same cases always get the same id")
    cases: int
    ttl_s: float = Field(description="kept this long after its upload or its last use")


class BatchCreate(BaseModel):
    """POST /batches: many jobs at once, typically many samples against one test set."""

    model_config = ConfigDict(extra="forbid")

    submissions: list[JobCreate] = Field(
        min_length=1, description="each a job as for POST /execute (at most max_batch_jobs)"
    )
    test_set: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="a stored test set for every submission without test_cases or "
        "test_set of its own",
    )
    stop_on_first_failure: bool = Field(
        True,
        strict=True,
        description="per-sample early stop: each judge job stops at its first failing case, "
        "unless the submission says otherwise (or has subtasks)",
    )


class BatchAccepted(BaseModel):
    """202 answer to POST /batches."""

    batch_id: str
    job_ids: list[str]


class BatchJob(BaseModel):
    """One job of a batch, in short. `status` null: the job's record expired."""

    job_id: str
    status: JobStatus | None
    #: A judge job's verdict, or a plain run's outcome.
    verdict: str | None = None
    passed: int | None = None
    total: int | None = None
    score: float | None = None
    usage: Usage | None = None
    error: str | None = None

    @classmethod
    def of(cls, job_id: str, job: Job | None) -> BatchJob:
        if job is None:
            return cls(job_id=job_id, status=None, error="unknown or expired")
        result = job.result
        brief = cls(job_id=job_id, status=job.status, error=job.error)
        if isinstance(result, JudgeResult):
            return brief.model_copy(
                update={
                    "verdict": result.verdict.value,
                    "passed": result.passed,
                    "total": result.total,
                    "score": result.score,
                    "usage": result.usage,
                }
            )
        if isinstance(result, RunResult):
            return brief.model_copy(update={"verdict": result.outcome.value, "usage": result.usage})
        return brief


class BatchTotals(BaseModel):
    """A batch's jobs added up."""

    jobs: int
    finished: int = Field(description="jobs COMPLETED, FAILED or CANCELLED (or expired)")
    done: bool = Field(description="every job finished")
    statuses: dict[str, int]
    verdicts: dict[str, int]
    accepted: int
    passed: int = Field(description="cases passed, over every judge job")
    total: int = Field(description="cases, over every judge job")
    mean_score: float | None = Field(description="mean score of the jobs with one")
    cpu_time_ms: int = Field(
        description="the sum of each job's CPU time (a judge job's: its largest case's)"
    )

    @classmethod
    def of(cls, jobs: list[BatchJob]) -> BatchTotals:
        statuses: dict[str, int] = {}
        verdicts: dict[str, int] = {}
        for job in jobs:
            status = job.status.value if job.status is not None else "EXPIRED"
            statuses[status] = statuses.get(status, 0) + 1
            if job.verdict is not None:
                verdicts[job.verdict] = verdicts.get(job.verdict, 0) + 1
        scores = [job.score for job in jobs if job.score is not None]
        finished = sum(job.status is None or job.status in TERMINAL_STATUSES for job in jobs)
        return cls(
            jobs=len(jobs),
            finished=finished,
            done=finished == len(jobs),
            statuses=statuses,
            verdicts=verdicts,
            accepted=verdicts.get("ACCEPTED", 0),
            passed=sum(job.passed or 0 for job in jobs),
            total=sum(job.total or 0 for job in jobs),
            mean_score=round(sum(scores) / len(scores), 2) if scores else None,
            cpu_time_ms=sum(job.usage.cpu_time_ms for job in jobs if job.usage is not None),
        )


class BatchPublic(BaseModel):
    """GET /batches/{batch_id}."""

    batch_id: str
    totals: BatchTotals
    jobs: list[BatchJob]


class Accepted(BaseModel):
    """202 answer to POST /execute."""

    job_id: str
    status: JobStatus


class TimestampsOut(BaseModel):
    """When each stage of the job happened, ISO 8601 UTC."""

    received_at: datetime
    picked_up_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    stored_at: datetime | None

    @field_serializer("*")
    def _iso(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobPublic(BaseModel):
    """A job as clients see it."""

    job_id: str
    status: JobStatus
    language: str
    limits: Limits
    timestamps: TimestampsOut
    result: RunResult | JudgeResult | None
    error: str | None
    attempts: int
    progress: Progress | None

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        return cls(
            job_id=job.id,
            status=job.status,
            language=job.language,
            limits=job.limits,
            timestamps=TimestampsOut(**job.timestamps.model_dump()),
            result=job.result,
            error=job.error,
            attempts=job.attempts,
            progress=job.progress,
        )


class Language(BaseModel):
    """A runtime this server can run."""

    id: str
    name: str
    version: str
    compiler_options: list[str] = Field(
        default_factory=list,
        description="the compiler options a request may give (regular expressions, each "
        "option must match one whole); empty: none",
    )
    packages: dict[str, str] | None = Field(
        None,
        description="the packages a profile ships, name -> version (python-sci); "
        "absent for a plain runtime",
    )


class ServerLimits(BaseModel):
    """GET /limits: what a request gets when it says nothing, and the most it may ask."""

    defaults: Limits
    maximums: Limits
    max_source_kb: int
    max_stdin_kb: int
    max_test_cases: int
    default_performance_repeat: int
    max_performance_repeat: int
    max_body_bytes: int
    max_wait_s: float


class FieldError(BaseModel):
    """One problem of a 422, in FastAPI's shape: where (["body", "limits", "memory_mb"]),
    what kind, and the message."""

    type: str
    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    """Every error answer: a message, and for 422 the fields at fault."""

    error: str
    detail: list[FieldError] | None = None


class Health(BaseModel):
    """GET /health. The figures are left out when the queue backend did not answer."""

    status: Literal["ok", "unavailable"]
    backend: str
    workers: int | None = None
    pending: int | None = None
    running: int | None = None
    problems: list[str] | None = Field(None, description="why it is unavailable")
