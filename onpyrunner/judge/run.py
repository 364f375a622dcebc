"""A judge job: every test case in its own fresh sandbox, verdicts, score.

Cases run in parallel up to the sandbox pool's concurrency; results keep the request's
order. The program is prepared once per job (for a compiled language, compiled once, or taken
from the compile cache) and its files are put into each case's sandbox.
With stop_on_first_failure, once a case fails every later case (in request order) is
reported SKIPPED and the runs of later cases still going are stopped. The whole job is
capped at `max_judge_wall_s`: cases not finished by then are SKIPPED and, if nothing
failed before them, the job's verdict is TIME_LIMIT_EXCEEDED; the performance runs, when
the request asks for them, get what is left of it. Progress counts runs: one per case,
plus the performance runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from onpyrunner.judge.compare import verdict_of
from onpyrunner.judge.measure import first_failure, measure, no_score, runs_of
from onpyrunner.models import (
    JobRequest,
    JudgeResult,
    Progress,
    RunResult,
    TestCase,
    TestResult,
    Unscored,
    Usage,
    Verdict,
)
from onpyrunner.sandbox.pool import Prepared, Sandbox


def case_result(case: TestCase, run: RunResult, request: JobRequest) -> TestResult:
    """The verdict of one case from its run; a hidden case keeps only name, verdict, usage."""
    verdict, diff = verdict_of(case.expected_stdout, run, request.checker)
    if case.hidden:
        return TestResult(name=case.name, verdict=verdict, hidden=True, usage=run.usage)
    return TestResult(
        name=case.name,
        verdict=verdict,
        outcome=run.outcome,
        stdout=run.stdout,
        stderr=run.stderr,
        exit_code=run.exit_code,
        signal=run.signal,
        usage=run.usage,
        diff=diff,
    )


def skipped(case: TestCase) -> TestResult:
    return TestResult(name=case.name, verdict=Verdict.SKIPPED, hidden=case.hidden)


def summarize(cases: list[TestCase], results: list[TestResult], cut_short: bool) -> JudgeResult:
    """Overall verdict (first failing case in request order), passed, score, usage."""
    passed = sum(r.verdict is Verdict.ACCEPTED for r in results)
    failing: Verdict | None = next(
        (r.verdict for r in results if r.verdict not in (Verdict.ACCEPTED, Verdict.SKIPPED)),
        None,
    )
    if failing is None:
        failing = Verdict.TIME_LIMIT_EXCEEDED if cut_short else Verdict.ACCEPTED
    # Points relative to the largest: a sum of huge finite points would overflow to inf
    # (and the score to NaN, which JSON cannot carry).
    top = max((c.points for c in cases), default=0.0)
    total_points = sum(c.points / top for c in cases) if top > 0 else 0.0
    earned = sum(
        c.points / top
        for c, r in zip(cases, results, strict=True)
        if r.verdict is Verdict.ACCEPTED and top > 0
    )
    if total_points > 0:
        score = round(100 * earned / total_points, 2)
    else:
        score = 100.0 if passed == len(cases) else 0.0
    ran = [r.usage for r in results if r.usage is not None]
    usage = Usage(
        cpu_time_ms=max((u.cpu_time_ms for u in ran), default=0),
        wall_time_ms=max((u.wall_time_ms for u in ran), default=0),
        memory_kb=max((u.memory_kb for u in ran), default=0),
    )
    return JudgeResult(
        verdict=failing, passed=passed, total=len(cases), score=score, usage=usage, tests=results
    )


class _Counter:
    """The job's progress: runs done of all it will make."""

    def __init__(self, total: int, on_progress: Callable[[Progress], Awaitable[None]]) -> None:
        self.done = 0
        self.total = total
        self.on_progress = on_progress

    async def step(self) -> None:
        self.done += 1
        await self.on_progress(Progress(done=self.done, total=self.total))

    async def finish(self) -> None:
        """The runs that will not be made count as done: the progress ends at its total."""
        if self.done < self.total:
            self.done = self.total
            await self.on_progress(Progress(done=self.done, total=self.total))


async def judge(
    request: JobRequest,
    sandbox: Sandbox,
    on_progress: Callable[[Progress], Awaitable[None]],
) -> JudgeResult:
    """Run every case of a judge job and judge it; then measure its performance when the
    request asks (judge/measure.py).

    Raises:
        SandboxError: the sandbox failed (the whole job then fails).
        UnknownLanguageError: this worker does not have the request's runtime.
    """
    cases = request.test_cases or []
    performance = request.performance
    extra = runs_of(performance) if performance is not None else 0
    progress = _Counter(len(cases) + extra, on_progress)
    deadline = asyncio.get_running_loop().time() + sandbox.settings.max_judge_wall_s
    prepared = await sandbox.prepare(request.language, request.source_code.encode())
    if prepared.compile_error is not None:  # nothing to run: every case is skipped
        failed = summarize(cases, [skipped(c) for c in cases], cut_short=False)
        result = failed.model_copy(
            update={
                "verdict": Verdict.COMPILE_ERROR,
                "compile_output": prepared.compile_error.compile_output,
            }
        )
        cut_short = False
    else:
        result, cut_short = await _judge_cases(request, sandbox, prepared, progress)
    if performance is None:
        return result
    failing = first_failure(performance, cases, result.tests)
    if failing is not None:
        if cut_short:
            detail = f"the cases did not end within the job's max_judge_wall_s ({failing})"
            report = no_score(performance, Unscored.OUT_OF_TIME, detail)
        else:
            detail = f"the submission on {failing}"
            report = no_score(performance, Unscored.SUBMISSION_FAILED, detail)
        await progress.finish()
        return result.model_copy(update={"performance": report})
    remaining_s = deadline - asyncio.get_running_loop().time()
    value, report = await measure(request, sandbox, prepared, remaining_s, progress.step)
    await progress.finish()
    return result.model_copy(update={"performance_score": value, "performance": report})


async def _judge_cases(
    request: JobRequest, sandbox: Sandbox, prepared: Prepared, progress: _Counter
) -> tuple[JudgeResult, bool]:
    """Every case in its own fresh sandbox, in parallel: the verdicts and the score, and
    whether max_judge_wall_s cut the cases short."""
    cases = request.test_cases or []
    results: list[TestResult | None] = [None] * len(cases)
    first_failing = len(cases)  # index of the earliest failing case seen so far
    tasks: list[asyncio.Task[None]] = []

    async def run_case(i: int) -> None:
        nonlocal first_failing
        case = cases[i]
        if i > first_failing:
            return
        run = await sandbox.run_prepared(prepared, case.stdin.encode(), request.limits)
        result = case_result(case, run, request)
        results[i] = result
        if request.stop_on_first_failure and result.verdict is not Verdict.ACCEPTED:
            if i < first_failing:
                first_failing = i
                for later in tasks[i + 1 :]:
                    later.cancel()
        await progress.step()

    tasks = [asyncio.create_task(run_case(i)) for i in range(len(cases))]
    try:
        _, unfinished = await asyncio.wait(tasks, timeout=sandbox.settings.max_judge_wall_s)
    finally:  # on time-out, and when the job itself is cancelled
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()  # re-raises a SandboxError of any case
    final = [
        skipped(case) if result is None or i > first_failing else result
        for i, (case, result) in enumerate(zip(cases, results, strict=True))
    ]
    return summarize(cases, final, cut_short=bool(unfinished)), bool(unfinished)
