"""A job as a history row, the roll-up keys of a row, and a row as the history answers it.

Latency roll-ups count jobs per bin of a stage's duration: one bin per millisecond under
16 ms, then bins 5% wide, so a percentile read from them is exact under 16 ms and within
2.5% above (the bin's geometric middle is reported).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from onpyrunner.models import Job as _Job
from onpyrunner.models import JudgeResult, RunResult

#: The stages whose durations /stats reports, by their number in history_latency.
STAGES: tuple[str, ...] = ("queue_wait_ms", "run_ms", "total_ms")
#: The roll-up periods, seconds: per minute and per hour.
PERIODS: tuple[int, ...] = (60, 3600)
#: Longest error message kept in a row, characters.
MAX_ERROR_CHARS = 2000

_EXACT_BINS = 16
_RATIO = 1.05
_LOG_RATIO = math.log(_RATIO)


def bin_of(ms: int) -> int:
    """The latency bin of a duration in ms."""
    if ms < _EXACT_BINS:
        return max(ms, 0)
    return _EXACT_BINS + math.floor(math.log(ms / _EXACT_BINS) / _LOG_RATIO)


def bin_value(index: int) -> int:
    """The duration a bin stands for: itself under 16 ms, else its geometric middle."""
    if index < _EXACT_BINS:
        return index
    return round(_EXACT_BINS * math.pow(_RATIO, index - _EXACT_BINS + 0.5))


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def ended_at(job: _Job) -> datetime:
    """When the job reached its final status: its result stored, else (cancelled) the end
    of its run, else its arrival."""
    stamps = job.timestamps
    return stamps.stored_at or stamps.finished_at or stamps.received_at


def outcome_of(job: _Job) -> str | None:
    """The run's outcome, or a judge job's verdict; None when it has no result."""
    if isinstance(job.result, RunResult):
        return job.result.outcome.value
    if isinstance(job.result, JudgeResult):
        return job.result.verdict.value
    return None


def row_of(job: _Job) -> dict[str, Any]:
    """The history row of an ended job."""
    stamps = job.timestamps
    result = job.result
    usage = result.usage if result is not None else None
    row: dict[str, Any] = {
        "job_id": job.id,
        "ended_at": ended_at(job),
        "deleted_at": None,
        "api": job.origin.api,
        "token_id": job.origin.token_id,
        "language": job.language,
        "status": job.status.value,
        "outcome": outcome_of(job),
        "judge": job.judge,
        "passed": result.passed if isinstance(result, JudgeResult) else None,
        "total": result.total if isinstance(result, JudgeResult) else None,
        "score": result.score if isinstance(result, JudgeResult) else None,
        "cpu_time_ms": usage.cpu_time_ms if usage else None,
        "wall_time_ms": usage.wall_time_ms if usage else None,
        "memory_kb": usage.memory_kb if usage else None,
        "exit_code": result.exit_code if isinstance(result, RunResult) else None,
        "signal": result.signal if isinstance(result, RunResult) else None,
        "worker": job.worker,
        "attempts": job.attempts,
        "error": job.error[:MAX_ERROR_CHARS] if job.error else None,
        "limits": job.limits.model_dump(),
        "received_at": stamps.received_at,
        "picked_up_at": stamps.picked_up_at,
        "started_at": stamps.started_at,
        "finished_at": stamps.finished_at,
        "stored_at": stamps.stored_at,
        "queue_wait_ms": _ms(stamps.received_at, stamps.picked_up_at),
        "run_ms": _ms(stamps.started_at, stamps.finished_at),
        "total_ms": _ms(stamps.received_at, stamps.stored_at or stamps.finished_at),
        "source_sha256": job.input.source_sha256 if job.input else None,
        "source_bytes": job.input.source_bytes if job.input else None,
    }
    return row


def content_of(job: _Job, max_bytes: int) -> dict[str, Any] | None:
    """The texts kept of a job (its input as kept with the job, its output cut to
    max_bytes), or None when there are none."""

    def cut(text: str | None) -> str | None:
        if not text:
            return text
        return text.encode()[:max_bytes].decode(errors="ignore")

    result = job.result
    facts = job.input
    content = {
        "job_id": job.id,
        "ended_at": ended_at(job),
        "source_code": cut(facts.source_code) if facts else None,
        "stdin": cut(facts.stdin) if facts else None,
        "stdout": cut(result.stdout) if isinstance(result, RunResult) else None,
        "stderr": cut(result.stderr) if isinstance(result, RunResult) else None,
        "compile_output": cut(result.compile_output) if result is not None else None,
        "origin_data": {k: cut(v) for k, v in job.origin.data.items()} or None,
    }
    if facts is None or facts.source_code is None:
        return None  # the texts were not kept at submission: keep none of them
    return content


def outcome_key(row: Mapping[Any, Any]) -> str:
    """What /stats counts a row under: its outcome or verdict, else its status (FAILED,
    CANCELLED)."""
    return str(row["outcome"] or row["status"])


def rollup_keys(
    rows: Iterable[Mapping[Any, Any]],
) -> tuple[Counter[tuple[int, int, str, str]], Counter[tuple[int, int, int, int]]]:
    """How much each roll-up row moves for these rows: (period, start, language, outcome)
    and (period, start, stage, bin) -> jobs."""
    counts: Counter[tuple[int, int, str, str]] = Counter()
    latency: Counter[tuple[int, int, int, int]] = Counter()
    for row in rows:
        at = int(row["ended_at"].timestamp())
        for period in PERIODS:
            start = at - at % period
            counts[(period, start, str(row["language"]), outcome_key(row))] += 1
            for stage, name in enumerate(STAGES):
                value = row[name]
                if value is not None:
                    latency[(period, start, stage, bin_of(int(value)))] += 1
    return counts, latency


class UsageOut(BaseModel):
    cpu_time_ms: int
    wall_time_ms: int
    memory_kb: int


class Stamps(BaseModel):
    received_at: datetime
    picked_up_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    stored_at: datetime | None


class Durations(BaseModel):
    queue_wait_ms: int | None
    run_ms: int | None
    total_ms: int | None


class SourceOut(BaseModel):
    sha256: str | None
    bytes: int | None


class Content(BaseModel):
    """The texts of a job, when the history keeps them (each cut to its cap)."""

    source_code: str | None
    stdin: str | None
    stdout: str | None
    stderr: str | None
    compile_output: str | None


class Entry(BaseModel):
    """A job as the history keeps it."""

    job_id: str
    api: str
    token_id: str | None
    language: str
    status: str
    outcome: str | None
    judge: bool
    passed: int | None
    total: int | None
    score: float | None
    usage: UsageOut | None
    exit_code: int | None
    signal: int | None
    worker: str | None
    attempts: int
    error: str | None
    limits: dict[str, int]
    timestamps: Stamps
    ended_at: datetime
    durations: Durations
    source: SourceOut
    content: Content | None = None

    @classmethod
    def of(cls, row: Mapping[Any, Any], content: Mapping[Any, Any] | None = None) -> Entry:
        usage = None
        if row["cpu_time_ms"] is not None:
            usage = UsageOut(
                cpu_time_ms=row["cpu_time_ms"],
                wall_time_ms=row["wall_time_ms"] or 0,
                memory_kb=row["memory_kb"] or 0,
            )
        return cls(
            job_id=row["job_id"],
            api=row["api"],
            token_id=row["token_id"],
            language=row["language"],
            status=row["status"],
            outcome=row["outcome"],
            judge=bool(row["judge"]),
            passed=row["passed"],
            total=row["total"],
            score=row["score"],
            usage=usage,
            exit_code=row["exit_code"],
            signal=row["signal"],
            worker=row["worker"],
            attempts=row["attempts"],
            error=row["error"],
            limits=dict(row["limits"] or {}),
            timestamps=Stamps(**{k: row[k] for k in Stamps.model_fields}),
            ended_at=row["ended_at"],
            durations=Durations(**{k: row[k] for k in Durations.model_fields}),
            source=SourceOut(sha256=row["source_sha256"], bytes=row["source_bytes"]),
            content=Content(**{k: content[k] for k in Content.model_fields})
            if content is not None
            else None,
        )
