"""Ended jobs as a worker would leave them, for the history tests (no sandbox, no queue)."""

from __future__ import annotations

from datetime import datetime, timedelta

from onpyrunner.limits import Limits
from onpyrunner.models import (
    Job,
    JobRequest,
    JobStatus,
    JudgeResult,
    Origin,
    Outcome,
    RunResult,
    Usage,
    Verdict,
)
from onpyrunner.queue.store import new_job, utcnow


def ended_job(
    *,
    at: datetime | None = None,
    outcome: Outcome | None = Outcome.SUCCESS,
    status: JobStatus = JobStatus.COMPLETED,
    language: str = "python",
    api: str = "native",
    token_id: str | None = None,
    wait_ms: int = 5,
    run_ms: int = 20,
    source: str = "print(1)",
    stdout: str = "1\n",
    keep_bytes: int | None = None,
    verdict: Verdict | None = None,
    data: dict[str, str] | None = None,
) -> Job:
    """A job that ended at `at` (default now), received wait_ms + run_ms + 1 ms before."""
    request = JobRequest(language=language, source_code=source, stdin="in", limits=Limits())
    job = new_job(request, Origin(api=api, token_id=token_id, data=data or {}), keep_bytes)
    stored = at or utcnow()
    finished = stored - timedelta(milliseconds=1)
    started = finished - timedelta(milliseconds=run_ms)
    received = started - timedelta(milliseconds=wait_ms)
    stamps = job.timestamps.model_copy(
        update={
            "received_at": received,
            "picked_up_at": started,
            "started_at": started,
            "finished_at": finished,
            "stored_at": stored,
        }
    )
    usage = Usage(cpu_time_ms=run_ms, wall_time_ms=run_ms, memory_kb=1000)
    result: RunResult | JudgeResult | None = None
    if verdict is not None:
        result = JudgeResult(verdict=verdict, passed=1, total=2, score=50.0, usage=usage, tests=[])
    elif outcome is not None and status is JobStatus.COMPLETED:
        result = RunResult(
            outcome=outcome, stdout=stdout, stderr="", exit_code=0, signal=None, usage=usage
        )
    return job.model_copy(
        update={
            "status": status,
            "timestamps": stamps,
            "attempts": 1,
            "worker": "w-1",
            "result": result,
            "judge": verdict is not None,
            "error": "the sandbox failed" if status is JobStatus.FAILED else None,
        }
    )
