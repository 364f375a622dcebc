"""The vocabulary shared by every layer: statuses, outcomes, verdicts, limits, results."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class Outcome(StrEnum):
    """What one run of the user's program did.

    When several apply, the first in this priority order wins (see sandbox/verdict.py):
    MEMORY_LIMIT_EXCEEDED (kernel OOM evidence), OUTPUT_LIMIT_EXCEEDED,
    TIME_LIMIT_EXCEEDED, RUNTIME_ERROR, SUCCESS. COMPILE_ERROR ends a job before any run.
    """

    SUCCESS = "SUCCESS"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    TIME_LIMIT_EXCEEDED = "TIME_LIMIT_EXCEEDED"
    MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
    OUTPUT_LIMIT_EXCEEDED = "OUTPUT_LIMIT_EXCEEDED"
    COMPILE_ERROR = "COMPILE_ERROR"


class Verdict(StrEnum):
    """A judged test case (or a whole judge job)."""

    ACCEPTED = "ACCEPTED"
    WRONG_ANSWER = "WRONG_ANSWER"
    TIME_LIMIT_EXCEEDED = "TIME_LIMIT_EXCEEDED"
    MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
    OUTPUT_LIMIT_EXCEEDED = "OUTPUT_LIMIT_EXCEEDED"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    COMPILE_ERROR = "COMPILE_ERROR"
    SKIPPED = "SKIPPED"


class Limits(BaseModel):
    """Resource limits of one run. Bounds are checked against settings by the caller."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_time_ms: int = Field(2000, ge=1)
    wall_time_ms: int = Field(5000, ge=1)
    memory_mb: int = Field(128, ge=1)
    output_kb: int = Field(64, ge=1)
    max_processes: int = Field(32, ge=1)
    max_file_kb: int = Field(1024, ge=0)


class Usage(BaseModel):
    """What the kernel measured for one run."""

    model_config = ConfigDict(frozen=True)

    cpu_time_ms: int
    wall_time_ms: int
    memory_kb: int


class RunResult(BaseModel):
    """The classified result of one run: the product's result object."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    stdout: str
    stderr: str
    exit_code: int | None
    signal: int | None
    usage: Usage
