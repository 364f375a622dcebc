"""Run one job's request through the sandbox: no queue, no Redis, just the work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from onpyrunner.judge.run import judge
from onpyrunner.models import JobRequest, JudgeResult, Progress, RunResult
from onpyrunner.queue.store import LanguageInfo
from onpyrunner.sandbox.pool import Sandbox

ProgressCallback = Callable[[Progress], Awaitable[None]]


class Runner(Protocol):
    """What a worker runs jobs with: the sandbox here, a fake in the worker's tests."""

    @property
    def languages(self) -> list[LanguageInfo]:
        """The runtimes it has."""

    async def execute(
        self, request: JobRequest, on_progress: ProgressCallback
    ) -> RunResult | JudgeResult:
        """The result of a plain run, or of a judge job when the request has test cases.

        Raises:
            SandboxError: the sandbox failed (a service failure, not a verdict).
        """


class SandboxRunner:
    """Jobs run in this machine's sandbox pool."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def languages(self) -> list[LanguageInfo]:
        return [LanguageInfo(r.id, r.spec.name, r.version) for r in self.sandbox.runtimes.values()]

    async def execute(
        self, request: JobRequest, on_progress: ProgressCallback
    ) -> RunResult | JudgeResult:
        if request.test_cases is not None:
            return await judge(request, self.sandbox, on_progress)
        return await self.sandbox.run(
            request.language, request.source_code.encode(), request.stdin.encode(), request.limits
        )
