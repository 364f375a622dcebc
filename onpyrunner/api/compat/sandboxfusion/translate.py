"""SandboxFusion's `POST /run_code` to the native job request, and the native job back to
SandboxFusion's answer: pure functions (docs/sandboxfusion.md says field by field what each
does).

In: `code` is the program (or, for a language run by a driver, a file beside it);
`run_timeout` (seconds, wall clock: SandboxFusion has no CPU limit) is the wall time and,
within the server's maximum, the CPU time; `memory_limit_MB` the memory (-1, or any value
not above 0: the server's default); `compile_timeout` is likewise the compile's wall time
and, within the server's compile CPU time, its CPU time (the native `compile_limits`);
`files` ({path: base64 or null}, null skipped) go into the working directory,
`fetch_files` come back; `stdin` null is none. Unknown fields are ignored, as
SandboxFusion does.

Out: `{status, message, compile_result, run_result, executor_pod_name, files}`, each result
`{status, execution_time, return_code, stdout, stderr}`; a compile's execution_time is the
native `compile_time_ms` in seconds (0 for a program from the compile cache). A limit the
program hit is the program's failure, never the sandbox's: memory is `Finished` with return
code 137 (a SIGKILL as shells report it), the output limit `Finished` with the code it died
with; both say in stderr which limit. `SandboxError` is only for a job the service failed.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from onpyrunner.api.compat.sandboxfusion.languages import FusionLanguage
from onpyrunner.limits import Limits, LimitTable
from onpyrunner.models import Job, JobStatus, Outcome, RunResult

#: What shells report for a process killed by SIGKILL (128 + 9): the code of a run stopped
#: for memory.
KILLED = 137
#: How the sandbox's compile result says a compile was stopped (sandbox/pool.py).
COMPILE_TIME_STOPPED = "compilation stopped: over its time limit"
COMPILE_MEMORY_STOPPED = "compilation stopped: over its memory limit"


class RunCodeRequest(BaseModel):
    """SandboxFusion's run_code request (unknown fields ignored, as SandboxFusion does)."""

    model_config = ConfigDict(extra="ignore")

    code: str = Field(description="the program")
    language: str = Field(description="a SandboxFusion language name (GET /v1/ping to check)")
    compile_timeout: float = Field(10, gt=0, allow_inf_nan=False, description="seconds")
    run_timeout: float = Field(10, gt=0, allow_inf_nan=False, description="seconds, wall clock")
    memory_limit_MB: int = Field(-1, description="MiB; -1 (or 0): the server's default")
    stdin: str | None = None
    files: dict[str, str | None] = Field(
        default_factory=dict, description="path -> base64 content (null: skipped)"
    )
    fetch_files: list[str] = Field(default_factory=list, description="paths to give back")
    args: list[str] = Field(default_factory=list, description="arguments after the command")


def _times(seconds: float, max_cpu_time_ms: int) -> dict[str, int]:
    """A SandboxFusion timeout (seconds, wall clock) as native limits: the wall time and,
    within the server's most (SandboxFusion sets no CPU limit of its own), the CPU time."""
    wall_ms = max(1, math.ceil(seconds * 1000))
    return {"wall_time_ms": wall_ms, "cpu_time_ms": min(wall_ms, max_cpu_time_ms)}


def limits(request: RunCodeRequest, table: LimitTable) -> dict[str, int]:
    """The native limits asked for: run_timeout as the wall and CPU times; the memory."""
    asked = _times(request.run_timeout, table.maximums.cpu_time_ms)
    if request.memory_limit_MB > 0:
        asked["memory_mb"] = request.memory_limit_MB
    return asked


def compile_limits(request: RunCodeRequest, table: LimitTable) -> dict[str, int]:
    """The native compile limits asked for: compile_timeout as the compile's wall and CPU
    times (the CPU time within the server's compile CPU time)."""
    return _times(request.compile_timeout, table.compile.cpu_time_ms)


def job_body(
    request: RunCodeRequest, language: FusionLanguage, table: LimitTable
) -> dict[str, Any]:
    """The native request (POST /execute's body)."""
    files = {
        path: {"content": content, "encoding": "base64"}
        for path, content in request.files.items()
        if content is not None
    }
    source = request.code
    if language.code_file is not None and language.driver is not None:
        files[language.code_file] = {"content": request.code, "encoding": "utf8"}
        source = language.driver
    body: dict[str, Any] = {
        "language": language.runtime,
        "source_code": source,
        "stdin": request.stdin or "",
        "limits": limits(request, table),
    }
    if language.compiled:  # compile_timeout is of no use to the others: not refused there
        body["compile_limits"] = compile_limits(request, table)
    if files:
        body["files"] = files
    if request.fetch_files:
        body["fetch_files"] = request.fetch_files
    if request.args:
        body["args"] = request.args
    return body


def field_of(loc: list[str | int], language: FusionLanguage) -> list[str | int]:
    """Where a native problem lands in SandboxFusion's request (a native field path in, a
    SandboxFusion one out)."""
    if not loc:
        return []
    head = loc[0]
    if head == "limits":
        return ["memory_limit_MB"] if loc[1:2] == ["memory_mb"] else ["run_timeout"]
    if head == "compile_limits":
        return ["compile_timeout"]
    if head == "source_code":
        return ["code"]
    if head == "files" and language.code_file is not None and loc[1:2] == [language.code_file]:
        return ["code"]
    if head == "files":
        return loc[:2]  # SandboxFusion's file is its content: no "content" or "encoding"
    if head == "language":
        return ["language"]
    return loc


def limit_message(field: str | int, bound: int, kind: str) -> str:
    """A native limit bound restated in SandboxFusion's units (seconds, MB)."""
    words = "at most" if kind == "le" else "at least"
    if field in ("run_timeout", "compile_timeout"):
        return f"must be {words} {bound / 1000:g} seconds (the server's limit)"
    return f"must be {words} {bound} MB (the server's limit)"


# --- the answer ---------------------------------------------------------------------------


def _stage(
    status: str, seconds: float | None, code: int | None, stdout: str, stderr: str
) -> dict[str, Any]:
    return {
        "status": status,
        "execution_time": seconds,
        "return_code": code,
        "stdout": stdout,
        "stderr": stderr,
    }


def shell_code(result: RunResult) -> int:
    """The exit status as a shell reports it: the code, or 128 + the signal; never 0 for
    a run that failed (1 when it has neither)."""
    if result.signal is not None:
        return 128 + result.signal
    return result.exit_code or 1


def _said(stderr: str, why: str) -> str:
    """stderr with a last line saying which limit stopped the program."""
    if stderr and not stderr.endswith("\n"):
        stderr += "\n"
    return f"{stderr}onpyrunner: {why}\n"


def run_stage(result: RunResult, limits: Limits) -> dict[str, Any]:
    """A native run result as SandboxFusion's run_result."""
    seconds = result.usage.wall_time_ms / 1000
    outcome = result.outcome
    if outcome is Outcome.TIME_LIMIT_EXCEEDED:
        return _stage("TimeLimitExceeded", seconds, None, result.stdout, result.stderr)
    if outcome is Outcome.MEMORY_LIMIT_EXCEEDED:
        why = f"memory limit exceeded ({limits.memory_mb} MB): killed"
        return _stage("Finished", seconds, KILLED, result.stdout, _said(result.stderr, why))
    if outcome is Outcome.OUTPUT_LIMIT_EXCEEDED:
        why = f"output limit exceeded ({limits.output_kb} KB of stdout or stderr, or a file"
        why += f" over {limits.max_file_kb} KB): stopped"
        code = shell_code(result)
        return _stage("Finished", seconds, code, result.stdout, _said(result.stderr, why))
    if outcome is Outcome.SUCCESS:
        return _stage("Finished", seconds, 0, result.stdout, result.stderr)
    return _stage("Finished", seconds, shell_code(result), result.stdout, result.stderr)


def compile_stage(result: RunResult) -> dict[str, Any]:
    """SandboxFusion's compile_result: the compiler's failure, or a compile that succeeded;
    its execution_time the compile's wall time (0 when the program came from the compile
    cache)."""
    compile_ms = result.compile_time_ms
    if result.outcome is not Outcome.COMPILE_ERROR:
        return _stage("Finished", None if compile_ms is None else compile_ms / 1000, 0, "", "")
    text = result.compile_output or ""
    seconds = (compile_ms if compile_ms is not None else result.usage.wall_time_ms) / 1000
    if text.startswith(COMPILE_TIME_STOPPED):
        return _stage("TimeLimitExceeded", seconds, None, "", text)
    code = KILLED if text.startswith(COMPILE_MEMORY_STOPPED) else shell_code(result)
    return _stage("Finished", seconds, code, "", text)


def _succeeded(stage: dict[str, Any] | None) -> bool:
    return stage is None or (stage["status"] == "Finished" and stage["return_code"] == 0)


def render(job: Job, language: FusionLanguage) -> dict[str, Any]:
    """A finished job as SandboxFusion's answer."""
    answer: dict[str, Any] = {
        "status": "SandboxError",
        "message": "",
        "compile_result": None,
        "run_result": None,
        "executor_pod_name": None,
        "files": {},
    }
    result = job.result
    if job.status is not JobStatus.COMPLETED or not isinstance(result, RunResult):
        cancelled = job.status is JobStatus.CANCELLED
        answer["message"] = job.error or ("cancelled" if cancelled else "the service failed")
        return answer
    if language.compiled or result.outcome is Outcome.COMPILE_ERROR:
        answer["compile_result"] = compile_stage(result)
    if result.outcome is not Outcome.COMPILE_ERROR:
        answer["run_result"] = run_stage(result, job.limits)
    answer["files"] = result.files or {}
    stages = (answer["compile_result"], answer["run_result"])
    answer["status"] = "Success" if all(_succeeded(s) for s in stages) else "Failed"
    return answer
