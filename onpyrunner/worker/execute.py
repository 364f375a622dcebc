"""Run one job's request through the sandbox: no queue, no Redis, just the work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from onpyrunner.models import JobRequest, JudgeResult, Progress, RunResult
from onpyrunner.sandbox.pool import Sandbox

ProgressCallback = Callable[[Progress], Awaitable[None]]


async def execute(
    request: JobRequest, sandbox: Sandbox, on_progress: ProgressCallback
) -> RunResult | JudgeResult:
    """The result of a plain run, or of a judge job when the request has test cases.

    Raises:
        SandboxError: the sandbox failed.
        UnknownLanguageError: this worker does not have the request's runtime.
    """
    if request.test_cases is not None:
        from onpyrunner.judge.run import judge

        return await judge(request, sandbox, on_progress)
    return await sandbox.run(
        request.language, request.source_code.encode(), request.stdin.encode(), request.limits
    )
