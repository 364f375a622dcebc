"""Run one job's request through the sandbox: no queue, no Redis, just the work."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Protocol

from onpyrunner.judge.run import judge, prepare_program
from onpyrunner.models import JobRequest, JudgeResult, Progress, RunResult
from onpyrunner.queue.store import LanguageInfo
from onpyrunner.sandbox.live import Live
from onpyrunner.sandbox.pool import RunOptions, Sandbox
from onpyrunner.worker.session import LiveRun, SessionLink

ProgressCallback = Callable[[Progress], Awaitable[None]]


class Runner(Protocol):
    """What a worker runs jobs with: the sandbox here, a fake in the worker's tests."""

    @property
    def languages(self) -> list[LanguageInfo]:
        """The runtimes it has."""

    async def execute(
        self, request: JobRequest, on_progress: ProgressCallback, session: SessionLink | None
    ) -> RunResult | JudgeResult:
        """The result of a plain run, or of a judge job when the request has test cases.

        Args:
            session: where a live run's output and input go (interactive and streamed
                jobs).

        Raises:
            SandboxError: the sandbox failed (a service failure, not a verdict).
        """


class SandboxRunner:
    """Jobs run in this machine's sandbox pool."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def languages(self) -> list[LanguageInfo]:
        return [
            LanguageInfo(r.id, r.spec.name, r.version, r.packages)
            for r in self.sandbox.runtimes.values()
        ]

    async def execute(
        self, request: JobRequest, on_progress: ProgressCallback, session: SessionLink | None
    ) -> RunResult | JudgeResult:
        if request.test_cases is not None:
            return await judge(request, self.sandbox, on_progress)
        prepared = await prepare_program(self.sandbox, request)
        options = RunOptions(
            fetch=tuple(request.fetch_files),
            fetch_max_bytes=self.sandbox.settings.max_fetch_file_kb * 1024,
        )
        if not (request.live or request.interleave_output):
            return await self.sandbox.run_prepared(
                prepared, request.stdin.encode(), request.limits, options
            )

        def start(live: Live) -> Awaitable[RunResult]:  # stdin goes through the Live
            live_options = dataclasses.replace(options, live=live)
            return self.sandbox.run_prepared(prepared, b"", request.limits, live_options)

        return await LiveRun(request, session).run(start)
