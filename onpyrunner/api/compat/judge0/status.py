"""Judge0's fourteen statuses, and how an OnPyRunner job maps onto them.

Judge0 has no memory or output limit status: like Judge0, OnPyRunner reports those runs as
runtime errors, and says the precise reason in `message`:
- MEMORY_LIMIT_EXCEEDED is the runtime error the process showed (killed by SIGKILL: 12
  "Other"; exited non-zero after a MemoryError: 11 "NZEC"), message "Memory limit exceeded".
- OUTPUT_LIMIT_EXCEEDED is 8 "Runtime Error (SIGXFSZ)": Judge0 writes stdout to a file
  capped by max_file_size, so the same program gets SIGXFSZ there.
A job the service could not run (FAILED) is 13 "Internal Error" with the reason; a job
cancelled through the native API is 13 as well (Judge0 has no cancelled state).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import IntEnum

from onpyrunner.limits import Limits
from onpyrunner.models import Job, JobStatus, JudgeResult, Outcome, RunResult, Verdict


class Status(IntEnum):
    """Judge0 CE 1.13.1's statuses (GET /statuses), ids and order as there."""

    IN_QUEUE = 1
    PROCESSING = 2
    ACCEPTED = 3
    WRONG_ANSWER = 4
    TIME_LIMIT_EXCEEDED = 5
    COMPILATION_ERROR = 6
    RUNTIME_ERROR_SIGSEGV = 7
    RUNTIME_ERROR_SIGXFSZ = 8
    RUNTIME_ERROR_SIGFPE = 9
    RUNTIME_ERROR_SIGABRT = 10
    RUNTIME_ERROR_NZEC = 11
    RUNTIME_ERROR_OTHER = 12
    INTERNAL_ERROR = 13
    EXEC_FORMAT_ERROR = 14

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS = {
    Status.IN_QUEUE: "In Queue",
    Status.PROCESSING: "Processing",
    Status.ACCEPTED: "Accepted",
    Status.WRONG_ANSWER: "Wrong Answer",
    Status.TIME_LIMIT_EXCEEDED: "Time Limit Exceeded",
    Status.COMPILATION_ERROR: "Compilation Error",
    Status.RUNTIME_ERROR_SIGSEGV: "Runtime Error (SIGSEGV)",
    Status.RUNTIME_ERROR_SIGXFSZ: "Runtime Error (SIGXFSZ)",
    Status.RUNTIME_ERROR_SIGFPE: "Runtime Error (SIGFPE)",
    Status.RUNTIME_ERROR_SIGABRT: "Runtime Error (SIGABRT)",
    Status.RUNTIME_ERROR_NZEC: "Runtime Error (NZEC)",
    Status.RUNTIME_ERROR_OTHER: "Runtime Error (Other)",
    Status.INTERNAL_ERROR: "Internal Error",
    Status.EXEC_FORMAT_ERROR: "Exec Format Error",
}

#: Signals with a status of their own; any other signal is RUNTIME_ERROR_OTHER.
_SIGNAL_STATUS: dict[int, Status] = {
    int(signal.SIGSEGV): Status.RUNTIME_ERROR_SIGSEGV,
    int(signal.SIGXFSZ): Status.RUNTIME_ERROR_SIGXFSZ,
    int(signal.SIGFPE): Status.RUNTIME_ERROR_SIGFPE,
    int(signal.SIGABRT): Status.RUNTIME_ERROR_SIGABRT,
}

CANCELLED_MESSAGE = "cancelled before it finished (DELETE /jobs/{id} of the native API)"
CUT_SHORT_MESSAGE = "not run to the end: the judge job's wall-time cap (max_judge_wall_s) passed"


@dataclass(frozen=True)
class Run:
    """What one run left behind, from a plain result or from a judged case."""

    outcome: Outcome | None
    stdout: str | None
    stderr: str | None
    compile_output: str | None
    exit_code: int | None
    signal: int | None
    cpu_time_ms: int | None
    wall_time_ms: int | None
    memory_kb: int | None


@dataclass(frozen=True)
class Rendered:
    """A job in Judge0's terms: its status, the reason, and the run's facts."""

    status: Status
    message: str | None
    run: Run | None


def _compile_output(result: object) -> str | None:
    """The compiler's output, where the runtime put one (compiled languages)."""
    value = getattr(result, "compile_output", None)
    return value if isinstance(value, str) else None


def _run_of(result: RunResult | JudgeResult) -> Run | None:
    if isinstance(result, RunResult):
        u = result.usage
        return Run(
            result.outcome,
            result.stdout,
            result.stderr,
            _compile_output(result),
            result.exit_code,
            result.signal,
            u.cpu_time_ms,
            u.wall_time_ms,
            u.memory_kb,
        )
    if not result.tests:
        return None
    case = result.tests[0]
    usage = case.usage
    return Run(
        case.outcome,
        case.stdout,
        case.stderr,
        _compile_output(case) or _compile_output(result),
        case.exit_code,
        case.signal,
        usage.cpu_time_ms if usage else None,
        usage.wall_time_ms if usage else None,
        usage.memory_kb if usage else None,
    )


def runtime_error(exit_code: int | None, sig: int | None) -> Status:
    """Judge0's runtime error status for how a process ended."""
    if sig is not None:
        return _SIGNAL_STATUS.get(sig, Status.RUNTIME_ERROR_OTHER)
    if exit_code:
        return Status.RUNTIME_ERROR_NZEC
    return Status.RUNTIME_ERROR_OTHER


def _ended(sig: int | None, exit_code: int | None) -> str | None:
    """Isolate's words for how the program ended, which Judge0 passes on as message."""
    if sig is not None:
        return f"Caught fatal signal {sig}"
    if exit_code:
        return f"Exited with error status {exit_code}"
    return None


def _of_outcome(run: Run, limits: Limits) -> tuple[Status, str | None]:
    match run.outcome:
        case Outcome.SUCCESS | None:
            return Status.ACCEPTED, None
        case Outcome.TIME_LIMIT_EXCEEDED:
            cpu = (run.cpu_time_ms or 0) >= limits.cpu_time_ms or run.signal == signal.SIGXCPU
            return Status.TIME_LIMIT_EXCEEDED, (
                "Time limit exceeded" if cpu else "Time limit exceeded (wall clock)"
            )
        case Outcome.COMPILE_ERROR:
            return Status.COMPILATION_ERROR, None
        case Outcome.MEMORY_LIMIT_EXCEEDED:
            return (
                runtime_error(run.exit_code, run.signal),
                f"Memory limit exceeded ({limits.memory_mb * 1024} KB)",
            )
        case Outcome.OUTPUT_LIMIT_EXCEEDED:
            return (
                Status.RUNTIME_ERROR_SIGXFSZ,
                f"Output limit exceeded (stdout or stderr over {limits.output_kb} KB)",
            )
        case Outcome.RUNTIME_ERROR:
            return runtime_error(run.exit_code, run.signal), _ended(run.signal, run.exit_code)
    raise AssertionError(f"unmapped outcome {run.outcome}")


def _of_judged(result: JudgeResult, run: Run | None, limits: Limits) -> tuple[Status, str | None]:
    """A one-case judge job (a submission with expected_output)."""
    verdict = result.tests[0].verdict if result.tests else result.verdict
    if verdict is Verdict.ACCEPTED:
        return Status.ACCEPTED, None
    if verdict is Verdict.WRONG_ANSWER:
        return Status.WRONG_ANSWER, None
    if verdict is Verdict.COMPILE_ERROR or result.verdict is Verdict.COMPILE_ERROR:
        return Status.COMPILATION_ERROR, None
    if run is None or run.outcome is None:  # SKIPPED: the judge job's cap cut it short
        return Status.TIME_LIMIT_EXCEEDED, CUT_SHORT_MESSAGE
    return _of_outcome(run, limits)


def render(job: Job) -> Rendered:
    """The Judge0 status, message and run facts of a job."""
    if job.status is JobStatus.PENDING:
        return Rendered(Status.IN_QUEUE, None, None)
    if job.status is JobStatus.RUNNING:
        return Rendered(Status.PROCESSING, None, None)
    if job.status is JobStatus.CANCELLED:
        return Rendered(Status.INTERNAL_ERROR, CANCELLED_MESSAGE, None)
    if job.status is JobStatus.FAILED or job.result is None:
        return Rendered(Status.INTERNAL_ERROR, job.error or "the job failed", None)
    run = _run_of(job.result)
    if isinstance(job.result, JudgeResult):
        status, message = _of_judged(job.result, run, job.limits)
    else:
        assert run is not None
        status, message = _of_outcome(run, job.limits)
    return Rendered(status, message, run)
